"""OpenAI's own Python client, pointed at a live ``speech serve`` on 127.0.0.1: what works against
OpenAI's audio API works here with only ``base_url`` changed (and our model ids or OpenAI's)."""
from __future__ import annotations

import io

import openai
import pytest
import soundfile as sf

from speech.serve.settings import ServeSettings
from tests.serve.conftest import running_server


@pytest.fixture(scope="module")
def keyed_server(served_models):
    with running_server(served_models, ServeSettings(api_key="sk-local-test")) as url:
        yield url


@pytest.fixture()
def oai(keyed_server):
    return openai.OpenAI(base_url=keyed_server + "/v1", api_key="sk-local-test", max_retries=0, timeout=60)


@pytest.mark.data
def test_transcriptions_in_the_clients_own_types(oai, fsdd_clips):
    path, word = fsdd_clips[5]
    with open(path, "rb") as fh:
        assert oai.audio.transcriptions.create(model="digits", file=fh).text == word
    with open(path, "rb") as fh:
        verbose = oai.audio.transcriptions.create(model="whisper-1", file=fh, response_format="verbose_json",
                                                  timestamp_granularities=["word", "segment"])
    assert verbose.text == word and verbose.duration == pytest.approx(sf.info(str(path)).duration, abs=0.01)
    assert [w.word for w in verbose.words] == [word] and verbose.words[0].end > verbose.words[0].start
    assert verbose.segments[0].text == word
    with open(path, "rb") as fh:
        srt = oai.audio.transcriptions.create(model="digits", file=fh, response_format="srt")
    assert "-->" in srt and word in srt


def test_speech_as_the_client_streams_it(oai, tmp_path):
    response = oai.audio.speech.create(model="tts-1", voice="alloy", input="The birch canoe slid on the planks.",
                                       response_format="wav", speed=1.0)
    out = tmp_path / "canoe.wav"
    response.write_to_file(out)
    wav, sr = sf.read(out)
    assert sr == 22050 and 1.0 < len(wav) / sr < 6.0
    mp3 = oai.audio.speech.create(model="kathleen", voice="kathleen", input="Hello.").content  # default: mp3
    assert sf.read(io.BytesIO(mp3))[1] == 22050


def test_the_client_raises_its_own_errors_with_our_messages(oai, keyed_server):
    assert [m.id for m in oai.models.list()] == ["digits", "kathleen"]
    with pytest.raises(openai.NotFoundError, match="model 'nobody' is not served here"):
        oai.audio.speech.create(model="nobody", voice="alloy", input="Hi.")
    with pytest.raises(openai.BadRequestError, match="input: empty"):
        oai.audio.speech.create(model="kathleen", voice="alloy", input="  ")
    with pytest.raises(openai.BadRequestError, match="cannot decode"):
        oai.audio.transcriptions.create(model="digits", file=("notes.wav", b"not audio at all"))
    wrong = openai.OpenAI(base_url=keyed_server + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="missing or wrong API key"):
        wrong.models.list()
