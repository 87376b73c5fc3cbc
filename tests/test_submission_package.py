"""The package a leaderboard submission pins is checked when ``evaluate`` runs, as ``verify`` checks it."""

from __future__ import annotations

from importlib import metadata

import pytest

from degzoo.errors import InvalidParameterError
from degzoo.plugins import submission_package

ENTRY = "degzoo.metrics.weights:FrobeniusWeightDistance"


def test_the_installed_distribution_of_the_entry_is_found_and_pinned():
    installed = metadata.version("degzoo")
    assert submission_package(ENTRY) == {"name": "degzoo", "version": installed, "entry": ENTRY}
    assert submission_package(ENTRY, f"degzoo=={installed}")["version"] == installed
    assert submission_package(ENTRY, "DegZoo")["version"] == installed  # named as pip compares names


@pytest.mark.parametrize(("entry", "package", "message"), [
    ("my_script_metric:metric", None,
     r"cannot tell which installed package provides 'my_script_metric:metric' \(module "
     r"'my_script_metric'\); say it with --package NAME==VERSION.*a metric in a script must first be "
     r"made an installed package"),
    (ENTRY, "no-such-dist-for-degzoo==1.0",
     r"--package 'no-such-dist-for-degzoo' is not installed here.*pip install no-such-dist-for-degzoo==1\.0"),
    (ENTRY, "degzoo==0.0.0.dev0",
     r"--package degzoo==0\.0\.0\.dev0, but degzoo .* is installed and would compute the scores"),
    (ENTRY, "numpy",
     r"--package 'numpy' does not hold module 'degzoo' of '.*' \(the module comes from degzoo\)"),
    (ENTRY, "no such pkg==1", r"--package: 'no such pkg' is not a distribution name"),
])
def test_a_package_that_verify_would_refuse_is_refused_now(entry, package, message):
    with pytest.raises(InvalidParameterError, match=message):
        submission_package(entry, package)
