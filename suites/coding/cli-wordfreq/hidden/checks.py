"""Hidden tests of the cli-wordfreq case: run the program, check its output and exit status."""

TEXT = b"The cat and the hat. THE end; a cat's hat? the cat\n"


async def test_default_top_three(sut):
    r = await sut.run("wordfreq.py", stdin=TEXT)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == ["the 4", "cat 2", "hat 2"], r.output


async def test_n_option_and_ties_alphabetical(sut):
    r = await sut.run("wordfreq.py", "-n", "5", stdin=TEXT)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == ["the 4", "cat 2", "hat 2", "a 1", "and 1"], r.output


async def test_apostrophes_stay_in_words(sut):
    r = await sut.run("wordfreq.py", "-n", "1", stdin=b"don't don't do\n")
    assert r.output.splitlines() == ["don't 2"], r.output


async def test_bad_n_is_an_error(sut):
    r = await sut.run("wordfreq.py", "-n", "zero", stdin=TEXT)
    assert r.exit_code == 2, r.exit_code
    assert r.output.strip().startswith("error:"), r.output
