"""``speech serve``: the HTTP API and web page (:mod:`speech.serve`) over the bundled or given models."""
from __future__ import annotations

import argparse
import errno
import socket

from speech.cli import errors
from speech.cli.args import COUNT, add_runtime_args, number

SERVE_HELP = """Serve recognizers and voices over HTTP: OpenAI's audio API (so its client libraries work
unchanged), a web page to try them, /healthz and Prometheus /metrics. Needs pip install 'speech[serve]'.

examples:
  speech serve                                   # the bundled recognizers and voice on 127.0.0.1:8000
  speech serve --asr digits --tts kathleen --port 9000
  speech serve --asr exp/an4/model --tts none --api-key "$(openssl rand -hex 16)"
  speech serve --runtime onnx --asr exports/an4 --tts exports/kathleen

  curl -F file=@seven.wav -F model=digits http://127.0.0.1:8000/v1/audio/transcriptions
  curl -d '{"model": "kathleen", "input": "Hello.", "response_format": "wav"}' \\
       -H 'Content-Type: application/json' http://127.0.0.1:8000/v1/audio/speech -o hello.wav

It listens on 127.0.0.1 (this machine only) unless --host says otherwise; with --api-key (or
$SPEECH_API_KEY) every route but /healthz and the page's own files needs 'Authorization: Bearer KEY'."""


def add_serve(sub) -> None:
    p = sub.add_parser("serve", help="HTTP server: OpenAI-style audio API, a web page, /metrics",
                       description=SERVE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--asr", action="append", metavar="NAME|PATH",
                   help="a recognizer to serve (repeat for several; the first is the default); 'none' for no "
                        "recognizer; default: the bundled recognizers")
    p.add_argument("--tts", action="append", metavar="NAME|PATH",
                   help="a voice to serve (repeat for several); 'none' for no voice; default: the bundled default voice")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only; "
                                                        "0.0.0.0: every interface)")
    p.add_argument("--port", type=number(int, 0, 65535), default=8000, help="port (default 8000)")
    p.add_argument("--api-key", default=None, help="require this key on the API (default: $SPEECH_API_KEY, else none)")
    p.add_argument("--vocoder", default="griffin-lim", help="the voices' vocoder: griffin-lim or a vocoder package")
    p.add_argument("--device", default="cpu", help="torch device for the models (cpu, cuda, cuda:1)")
    add_runtime_args(p)
    g = p.add_argument_group("limits and queues")
    g.add_argument("--max-upload-mb", type=number(float, 0, low_open=True), default=25.0,
                   help="largest request body in MB (larger: 413)")
    g.add_argument("--max-audio-seconds", type=number(float, 0, low_open=True), default=600.0,
                   help="longest audio to transcribe (longer: 413)")
    g.add_argument("--max-text-chars", type=COUNT, default=4096, help="longest text to synthesize (longer: 400)")
    g.add_argument("--max-batch", type=COUNT, default=16, help="most recognition requests run together")
    g.add_argument("--batch-wait-ms", type=number(float, 0, 1000), default=10.0,
                   help="how long a batch's first request waits for others to join it")
    g.add_argument("--asr-queue", type=COUNT, default=64, help="recognition requests that may wait (one more: 503)")
    g.add_argument("--tts-queue", type=COUNT, default=16, help="synthesis requests that may wait (one more: 503)")
    p.set_defaults(func=cmd_serve)


def _specs(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [] if values == ["none"] else [v for v in values if v != "none"]


def _check_port(host: str, port: int) -> None:
    """One line now, instead of uvicorn's log after the models have loaded, when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            why = "is in use" if e.errno == errno.EADDRINUSE else f"cannot be used ({e.strerror})"
            raise ValueError(f"--host {host} --port {port}: the address {why}; pick another with --port") from None


def cmd_serve(args: argparse.Namespace) -> int:
    # the serve extra (a missing one is reported as: pip install 'speech[serve]', by speech.cli.errors)
    import uvicorn

    from speech.serve.app import create_app
    from speech.serve.models import ModelSet
    from speech.serve.settings import ServeSettings

    settings = ServeSettings(api_key=args.api_key, max_upload_mb=args.max_upload_mb,
                             max_audio_seconds=args.max_audio_seconds, max_text_chars=args.max_text_chars,
                             max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms,
                             asr_queue=args.asr_queue, tts_queue=args.tts_queue).check()
    _check_port(args.host, args.port)
    if args.threads and args.runtime == "torch":
        import torch  # heavy: only on the torch path

        torch.set_num_threads(args.threads)
    models = ModelSet.load(_specs(args.asr), _specs(args.tts), runtime=args.runtime, device=args.device,
                           batch_size=args.max_batch, threads=args.threads, vocoder=args.vocoder)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not settings.api_key:
        errors.warning(f"listening on {args.host} without an API key: anyone who reaches this machine can use "
                       "the models (--api-key KEY or $SPEECH_API_KEY)")
    url = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}"
    for m in models.listing():
        print(f"{m['task']:<13}  {m['id']}{'  (default)' if m['default'] else ''}", flush=True)
    print(f"page: {url}/   API: {url}/v1   docs: {url}/docs   (Ctrl-C stops)", flush=True)
    uvicorn.run(create_app(models, settings), host=args.host, port=args.port, log_level="info",
                timeout_graceful_shutdown=5)
    return 0
