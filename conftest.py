"""pytest configuration for the whole checkout (tests, module doctests and the docs)."""

import tempfile

import pytest


@pytest.fixture(autouse=True)
def _doctest_temporary_files(request):
    """Doctests' ``tempfile.mkdtemp()`` directories go inside the test's own ``tmp_path``.

    The examples write full-size raw files (34 MB each) into new temporary
    directories; there pytest removes them with the rest of the test's files
    (see ``tmp_path_retention_policy``) instead of leaving them in the
    system's temporary directory after every run.
    """
    if not hasattr(request.node, "dtest"):  # not a doctest
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(request.getfixturevalue("tmp_path")))
        yield
