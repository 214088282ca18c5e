"""The README's library example runs as written."""

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks(text: str) -> list[str]:
    blocks, inside, current = [], False, []
    for line in text.splitlines():
        if line.strip() == "```python":
            inside, current = True, []
        elif inside and line.strip() == "```":
            blocks.append("\n".join(current))
            inside = False
        elif inside:
            current.append(line)
    return blocks


def test_readme_library_example_runs(capsys):
    blocks = _python_blocks(README.read_text())
    assert blocks, "README.md has no python example"
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(blocks[0], str(README), "exec"), namespace)  # noqa: S102
    ds = namespace["ds"]
    assert ds.attrs["sampler"] == "ac_mwg"
    assert ds.attrs["num_warmup_draws"] == 4 * 20
    out = capsys.readouterr().out
    assert "{'resample': 1000, 'point': 2, 'feature': 5}" in out
