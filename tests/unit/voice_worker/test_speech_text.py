from voice_worker.speech_text import prepare, readable, split_sentences


def test_names_are_read_and_links_and_emoji_skipped():
    names = {"111": "Alice"}
    text = readable("hey <@111> and <@!222>, see https://www.example.com/a/b?c=1 <:party_parrot:123> "
                    "<a:wave:456> in <#789> for <@&55> at <t:1700000000:R> **now** 🎉👍🏽 🇫🇷 ❤️ "
                    "<https://discord.com/x>", names.get)
    assert text == "hey Alice and someone, see in a channel for a role at a time now"
    assert "111" not in text and "http" not in text
    assert prepare("https://example.com 😀", max_chars=100).chunks == ()


def test_split_at_sentence_boundaries_within_limit():
    text = "First sentence here. Second one is here! Third? " + "word " * 60
    chunks = split_sentences(text.strip(), limit=50)
    assert chunks[0] == "First sentence here. Second one is here! Third?"
    assert all(len(c) <= 50 for c in chunks)
    assert " ".join(chunks).split() == text.split()


def test_prepare_caps_total_length_and_says_so():
    speech = prepare("One two three. " * 100, max_chars=60, chunk_chars=40)
    assert speech.truncated
    assert len(speech.text) <= 60
    assert speech.chunks[0].startswith("One two three.")


def test_prepare_keeps_short_text_whole():
    speech = prepare("Hello there.", max_chars=600)
    assert speech.chunks == ("Hello there.",) and not speech.truncated


def test_prepare_of_only_markup_is_empty():
    assert prepare("** ** ||  ||", max_chars=600).chunks == ()
