"""Tests for the TTS text front end: speech.text.tts_normalize and speech.text.phonemes."""

from __future__ import annotations


import pytest

from speech.text.frontend import text_to_ids
from speech.text.phonemes import EOS, PAD, PHONEMES, PHONEMES_STRESSED, PhonemeTokenizer
from speech.text.tokenizer import TokenizerError
from speech.text.tts_normalize import normalize_for_tts, split_sentences, year_to_words


def norm(text: str) -> str:
    return normalize_for_tts(text).text


@pytest.mark.parametrize("raw, expected", [
    ("Dr. Smith paid $5.20 on Jan. 3, 2024.",
     "doctor smith paid five dollars and twenty cents on january third, twenty twenty four."),
    ("Call 555-0142 before 10:30 a.m.", "call five five five, zero one four two before ten thirty A M."),
    ("The 2nd floor is 45% larger.", "the second floor is forty five percent larger."),
    ("Press 1, or press the pound key.", "press one, or press the pound key."),
    ("Mr. Lee lives at 221B Baker St.", "mister lee lives at two twenty one B baker street."),
])
def test_acceptance_sentences(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("45", "forty five"), ("1,200", "one thousand two hundred"), ("-5", "minus five"),
    ("0", "zero"), ("1000000", "one million"), ("007", "zero zero seven"), ("pages 10-20", "pages ten to twenty"),
])
def test_cardinals(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("2nd", "second"), ("21st", "twenty first"), ("3rd", "third"), ("100th", "one hundredth"), ("the 11th", "the eleventh"),
])
def test_ordinals(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("5.20", "five point two zero"), ("3.14159", "three point one four one five nine"), (".5", "point five"),
    ("It is 2.5.", "it is two point five."),
])
def test_decimals(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("2024", "twenty twenty four"), ("1999", "nineteen ninety nine"), ("2005", "two thousand five"),
    ("1900", "nineteen hundred"), ("1905", "nineteen oh five"), ("in 2000", "in two thousand"),
    ("2024 km", "two thousand twenty four kilometers"), ("1500%", "one thousand five hundred percent"),
    ("the 1990s", "the nineteen nineties"), ("the 80s", "the eighties"),
])
def test_years(raw, expected):
    assert norm(raw) == expected


def test_year_to_words():
    assert year_to_words(2010) == "twenty ten"
    assert year_to_words(1066) == "ten sixty six"


@pytest.mark.parametrize("raw, expected", [
    ("$5.20", "five dollars and twenty cents"), ("$5", "five dollars"), ("$1", "one dollar"),
    ("$0.99", "ninety nine cents"), ("$1.01", "one dollar and one cent"), ("£3", "three pounds"),
    ("€10.50", "ten euros and fifty cents"), ("$2.5 million", "two point five million dollars"),
    ("$1,200", "one thousand two hundred dollars"),
])
def test_currency(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("45%", "forty five percent"), ("4.5%", "four point five percent"), ("100 %", "one hundred percent"),
])
def test_percent(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("10:30", "ten thirty"), ("10:05", "ten oh five"), ("3:00", "three o'clock"),
    ("10:30 a.m. is early", "ten thirty A M is early"), ("at 3:00 pm", "at three P M"),
    ("at 7am", "at seven A M"), ("at 9 PM.", "at nine P M."), ("5:45 P.M.", "five forty five P M."),
    ("At 5 p.m. Then go.", "at five P M. then go."),
])
def test_times(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("555-0142", "five five five, zero one four two"),
    ("(412) 555-0142", "four one two, five five five, zero one four two"),
    ("412-555-0142", "four one two, five five five, zero one four two"),
    ("1-800-555-0142", "one, eight zero zero, five five five, zero one four two"),
])
def test_phone_numbers(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("Jan. 3, 2024", "january third, twenty twenty four"), ("March 21st", "march twenty first"),
    ("3 May 2020", "the third of may twenty twenty"), ("1/3/2024", "january third, twenty twenty four"),
    ("2024-01-03", "january third, twenty twenty four"), ("Dec. is cold", "december is cold"),
])
def test_dates(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("Mr. Lee", "mister lee"), ("Mrs. Lee", "missus lee"), ("Ms. Lee", "miz lee"), ("Dr. Who", "doctor who"),
    ("St. Louis", "saint louis"), ("on Baker St. today", "on baker street today"), ("at Elm Dr.", "at elm drive."),
    ("Fifth Ave.", "fifth avenue."), ("John Smith Jr. came", "john smith junior came"),
    ("cats, dogs, etc.", "cats, dogs, et cetera."), ("Ali vs. Frazier", "ali versus frazier"),
    ("No. 5", "number five"), ("no way", "no way"), ("e.g. this", "for example this"),
])
def test_abbreviations(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("#5", "number five"), ("press *", "press star"), ("R&D", "R and D"), ("A + B = C", "a plus B equals C"),
    ("me@home", "me at home"), ("and/or", "and slash or"), ("1/2 cup", "one half cup"), ("5 km", "five kilometers"),
    ("(quietly)", "quietly"), ("He said (quietly) no.", "he said, quietly, no."),
    ("a 5-year-old", "a five year-old"), ("T-shirt", "T-shirt"), ("COVID-19", "C O V I D nineteen"),
    ("He has a Ph.D.", "he has a P H D."), ("www.example.com", "W W W dot example dot com"), ("x^2", "x two"),
])
def test_symbols(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("J. Smith", "J smith"), ("Plan B", "plan B"), ("A dog", "a dog"), ("grade A.", "grade A."), ("I am", "i am"),
    ("FBI", "F B I"), ("USA", "U S A"), ("NASA", "nasa"), ("the U.S.", "the U S."), ("3D", "three D"),
    ("MP3", "M P three"), ("the ATMs", "the A T M's"), ("HELLO WORLD", "hello world"), ("XQZW", "X Q Z W"),
])
def test_acronyms_and_letters(raw, expected):
    assert norm(raw) == expected


def test_house_numbers():
    assert norm("221B") == "two twenty one B"
    assert norm("12A") == "twelve A"
    assert norm("1600 Pennsylvania Ave.") == "sixteen hundred pennsylvania avenue."


def test_punctuation_kept_and_collapsed():
    assert norm("Wait... what?!") == "wait. what?"
    assert norm("yes; no: maybe - ok") == "yes; no: maybe - ok"
    assert norm("Hello -- world") == "hello - world"
    assert norm(", leading comma") == "leading comma"


def test_unknown_characters_reported_not_dropped_silently():
    r = normalize_for_tts("I love pizza 😀 and sushi 寿司.")
    assert r.text == "i love pizza and sushi."
    assert r.unknown_chars == ["😀", "寿", "司"]
    assert r.unknown[0] == (13, "😀")


def test_accents_folded():
    r = normalize_for_tts("café naïve Zoë")
    assert r.text == "cafe naive zoe" and r.unknown == []


@pytest.mark.parametrize("raw", ["", "   ", "...", "?!,;", "()", "\"'\"", "-", None, 42])
def test_empty_and_punctuation_only(raw):
    r = normalize_for_tts(raw)
    assert isinstance(r.text, str)
    if raw != 42:
        assert r.text == "" and r.words == []


@pytest.mark.parametrize("raw", ["$", "$.", "1:", ":30", "12:99", "99/99/9999", "St.", "Dr.", "a.m.", "-", "--5",
                                 "1,2,3", "$1,2", "\x00\x01\x7f", "\u200b", "\ufeff", "5" * 50, "#", "**", "/"])
def test_odd_input_never_raises(raw):
    assert isinstance(normalize_for_tts(raw).text, str)


def test_long_paragraph():
    """A 10,000-character paragraph normalizes in one call like its sentences do one by one (its speed
    is a benchmark's business, not a test's)."""
    para = ("Dr. Smith paid $5.20 on Jan. 3, 2024. Call 555-0142 before 10:30 a.m. The FBI said 45% of "
            "1,200 people agreed, café 😀! ") * 200
    para = para[:10_000]
    r = normalize_for_tts(para)
    assert r.text.count("twenty twenty four") == para.count("2024") > 50
    assert r.unknown_chars == ["😀"]


def test_split_sentences():
    text = "Dr. Smith paid $5.20 on Jan. 3, 2024. Call at 10 a.m. tomorrow. J. Smith came! Really? Yes."
    assert split_sentences(text) == ["Dr. Smith paid $5.20 on Jan. 3, 2024.", "Call at 10 a.m. tomorrow.",
                                     "J. Smith came!", "Really?", "Yes."]
    assert split_sentences("") == []
    assert split_sentences("no end") == ["no end"]


# -- phoneme tokenizer ---------------------------------------------------------------------------

def test_inventory():
    assert len(PHONEMES) == 39
    assert len(PHONEMES_STRESSED) == 69
    tok = PhonemeTokenizer()
    assert tok.vocab[0] == PAD and len(tok) == 1 + 69 + 5
    assert len(PhonemeTokenizer(stress=False)) == 1 + 39 + 5


def test_tokenizer_round_trip(tmp_path):
    tok = PhonemeTokenizer()
    seq = ["HH", "AH0", "L", "OW1", "<wb>", "W", "ER1", "L", "D", "<pau_long>"]
    ids = tok.encode(seq, add_eos=True)
    assert 0 not in ids and ids[-1] == tok.eos_id
    assert tok.decode(ids) == seq + [EOS]
    assert tok.decode([0, 0] + ids) == seq + [EOS]  # padding skipped
    assert tok.encode(" ".join(seq)) == ids[:-1]
    path = tok.save(tmp_path / "ph.json")
    assert PhonemeTokenizer.load(path) == tok


def test_tokenizer_without_stress_strips_digits():
    tok = PhonemeTokenizer(stress=False)
    assert tok.decode(tok.encode(["AH0", "EY1", "K"])) == ["AH", "EY", "K"]


def test_tokenizer_errors(tmp_path):
    tok = PhonemeTokenizer()
    with pytest.raises(ValueError, match="'XX'"):
        tok.encode(["AH0", "XX"])
    with pytest.raises(ValueError, match="'AH'"):
        tok.encode(["AH"])  # stress required with stress=True
    with pytest.raises(ValueError, match="<pad>"):
        tok.encode([PAD])
    with pytest.raises(TokenizerError, match="out of range"):
        tok.decode([len(tok)])
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "char", "vocab": []}')
    with pytest.raises(TokenizerError, match="phoneme"):
        PhonemeTokenizer.load(bad)
    other = tmp_path / "other.json"
    other.write_text('{"type": "phoneme", "stress": true, "vocab": ["<pad>", "AA0"]}')
    with pytest.raises(TokenizerError, match="differs"):
        PhonemeTokenizer.load(other)
    with pytest.raises(FileNotFoundError):
        PhonemeTokenizer.load(tmp_path / "missing.json")


def test_text_to_ids():
    from speech.text.g2p import G2P

    tok = PhonemeTokenizer()
    raw = "Mr. Lee paid $5, blorptastic 😀."
    ids, info = text_to_ids(raw, g2p=G2P(fallback=None), tokenizer=tok)
    assert info.normalized == "mister lee paid five dollars, blorptastic."
    assert ids[-1] == tok.eos_id
    assert tok.decode(ids)[:-1] == info.tokens
    assert info.tokens[:6] == ["M", "IH1", "S", "T", "ER0", "<wb>"]
    assert "<pau_short>" in info.tokens and info.tokens[-1] == "<pau_long>"
    assert info.unknown == [(raw.index("😀"), "😀")]
    assert info.guessed == [("blorptastic", "rules")]
