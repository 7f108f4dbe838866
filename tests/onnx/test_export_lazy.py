"""``dl.onnx`` without ``import deltaflow.onnx``: imported on first use (PEP 562), so
``import deltaflow`` never imports the optional ``onnx`` package; without it, every way in
says what to install."""
import subprocess
import sys

import pytest

HIDE_ONNX = "import sys; sys.modules['onnx'] = None\n"     # import onnx → ModuleNotFoundError
INSTALL = "pip install 'deltaflow[onnx]'"


def python(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_dl_onnx_is_imported_on_first_use():
    pytest.importorskip("onnx")
    out = python("import sys\nimport deltaflow as dl\nprint('onnx' in sys.modules)\n"
                 "export = dl.onnx.export\n"
                 "print('onnx' in sys.modules, export.__module__, dl.onnx.load.__module__)\n"
                 "import deltaflow.onnx\nprint(deltaflow.onnx is dl.onnx)\n")
    assert out.split() == ["False", "True", "deltaflow.onnx.export", "deltaflow.onnx.load",
                           "True"]


def test_without_onnx_every_way_in_names_the_extra():
    out = python(HIDE_ONNX + "import deltaflow as dl\n"
                 "try:\n    dl.onnx\nexcept ModuleNotFoundError as err:\n"
                 "    print(err.name, '|', err)\n"
                 "try:\n    import deltaflow.onnx\nexcept ModuleNotFoundError as err:\n"
                 "    print(err.name, '|', err)\n"
                 "print(hasattr(dl, 'no_such_thing'))\n")
    lines = out.splitlines()
    want = f"onnx | dl.onnx needs the onnx package: {INSTALL}"
    assert lines == [want, want, "False"]


def test_without_onnx_the_export_command_names_the_extra(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", HIDE_ONNX + "from deltaflow.cli import main\n"
         f"raise SystemExit(main(['export', {str(tmp_path)!r}]))"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == f"error: export: dl.onnx needs the onnx package: {INSTALL}\n"
