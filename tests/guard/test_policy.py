"""The policy as data: the default allow-list, checked against the real
modules; its extension by MEMO_GUARD_POLICY; the rules no file can change."""

from __future__ import annotations

import builtins
import importlib
import json
import types

import pytest

from guard import Policy, check_source, default_policy, load_policy
from guard.policy import FORBIDDEN_BUILTINS, NEVER_MEMBERS, NEVER_MODULES, OWN_PACKAGES
from tests.conftest import unguarded_policy

POLICY = default_policy()
DANGEROUS_BUILTINS = {id(getattr(builtins, name)) for name in FORBIDDEN_BUILTINS if hasattr(builtins, name)}


def _module(name: str) -> types.ModuleType:
    return importlib.import_module(name)


def _refused(source: str, policy: Policy = POLICY) -> bool:
    report = check_source(source, "t", policy)
    assert report.syntax_error is None, report.syntax_error
    return not report.ok


# ------------------------------------------------------------------ the default allow-list
@pytest.mark.parametrize("name", [m for m, rule in POLICY.modules.items() if rule.whole])
def test_a_whole_module_hands_out_no_module_and_no_forbidden_builtin(name):
    """A module allowed whole must not reach, under a public name, a module
    (the modules it imported) or a forbidden builtin; the guard refuses
    each such attribute (checked on this Python's real module)."""
    module = _module(name)
    for attribute in (a for a in dir(module) if not a.startswith("_")):
        value = getattr(module, attribute)
        dangerous = isinstance(value, types.ModuleType) and f"{name}.{attribute}" not in POLICY.modules
        if dangerous or id(value) in DANGEROUS_BUILTINS:
            assert _refused(f"import {name} as m\nm.{attribute}\n"), f"{name}.{attribute} is {value!r}"


@pytest.mark.parametrize("name", [m for m, rule in POLICY.modules.items() if not rule.whole])
def test_every_listed_member_exists_and_is_no_module_or_forbidden_builtin(name):
    module = _module(name)
    for member in POLICY.modules[name].members:
        value = module
        for part in member.split("."):
            assert hasattr(value, part), f"{name}.{member} does not exist on this Python"
            value = getattr(value, part)
        if isinstance(value, types.ModuleType):
            assert f"{name}.{member}" in POLICY.modules, f"{name}.{member} is a module"
        assert id(value) not in DANGEROUS_BUILTINS, f"{name}.{member} is {value!r}"


def test_every_entry_has_a_reason():
    for name, rule in POLICY.modules.items():
        assert rule.reason, name
        for member, reason in (rule.members or {}).items():
            assert reason, f"{name}.{member}"
    assert all(POLICY.builtins.values()) and all(r.reason for r in POLICY.arguments.values())
    assert all(FORBIDDEN_BUILTINS.values()) and all(NEVER_MODULES.values())


def test_the_default_covers_what_memo_scripts_use():
    for module in ("csv", "json", "datetime", "decimal", "re", "math", "statistics", "itertools", "functools",
                   "collections", "dataclasses", "enum", "typing", "abc", "html", "html.parser",
                   "xml.etree.ElementTree", "xml.dom.minidom", "xml.sax.saxutils", "unicodedata", "string",
                   "textwrap", "operator", "codecs", "platform", "urllib.parse", "urllib.error", "urllib.request",
                   "email.utils", "calendar", "time", "uuid", "hashlib", "base64", "concurrent.futures",
                   "mysql.connector", "tinyhtml", "rfeed", "sys", "io"):
        assert module in POLICY.modules, module
    assert set(POLICY.modules["sys"].members) >= {"stdout", "stdout.buffer", "stderr", "exit", "argv", "version_info"}
    assert set(POLICY.modules["io"].members) >= {"StringIO", "BytesIO", "TextIOWrapper"}
    for name in ("getattr", "setattr", "vars", "globals", "locals", "dir", "compile", "exec", "eval", "open",
                 "input", "breakpoint", "__import__"):
        assert name not in POLICY.builtins or name == "getattr", name
        assert name in FORBIDDEN_BUILTINS or name == "getattr", name


def test_no_never_allowed_name_is_in_the_default():
    for module in POLICY.modules:
        assert not any(module == m or module.startswith(m + ".") for m in NEVER_MODULES), module
    for module, never in NEVER_MEMBERS.items():
        members = POLICY.modules[module].members or {}
        assert not any(m.split(".")[0] in never for m in members), module
    assert not set(POLICY.builtins) & set(FORBIDDEN_BUILTINS)


def test_importable_modules_for_the_run_time_layer():
    modules = POLICY.importable_modules()
    assert isinstance(modules, frozenset)
    assert {"json", "xml.etree.ElementTree", "mysql.connector", "queries", "sniplets"} <= modules
    assert not {"os", "subprocess", "builtins", "importlib"} & modules
    extended = load_policy_from({"modules": {"requests": "*"}})
    assert "requests" in extended.importable_modules() and "requests" not in modules


def test_an_unenforced_policy_accepts_every_script_that_parses():
    policy = unguarded_policy()
    assert policy.enforce is False and POLICY.enforce is True
    assert check_source("import os\nos.system('id')\n", "t", policy).ok
    assert check_source("# coding: latin-1\nopen('x')\n", "t", policy).ok
    assert check_source("x = (\n", "t", policy).syntax_error is not None


# ------------------------------------------------------------------ extensions
def load_policy_from(data, tmp_path=None) -> Policy:
    return POLICY.extended(data, "test.json")


def test_a_policy_file_extends_the_allow_list(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({
        "description": "OAPEN: the image gained requests",
        "modules": {
            "requests": {"reason": "HTTP client", "members": ["get", "RequestException"]},
            "unicodedata2": "*",
            "sys": {"getswitchinterval": "a number"},
        },
        "builtins": {"exit": "scripts end with exit()"},
    }))
    policy = load_policy(path)
    assert policy.description.startswith("OAPEN") and policy.sources == (str(path),)
    assert not _refused("import requests\nrequests.get('https://x')\nimport unicodedata2\nunicodedata2.anything\n"
                        "import sys\nsys.getswitchinterval()\nsys.argv\nexit(0)\n", policy)
    assert _refused("import requests\nrequests.post('https://x')\n", policy)
    assert policy.modules["requests"].reason == "HTTP client"
    assert _refused("import requests\n")  # the default is untouched


def test_a_policy_file_narrows_the_allow_list():
    policy = load_policy_from({"refuse": {"modules": ["urllib.request"], "members": {"sys": ["argv", "stdout"]},
                                          "builtins": ["memoryview"]}})
    assert _refused("import urllib.request\n", policy)
    assert _refused("import sys\nsys.argv\n", policy) and _refused("import sys\nsys.stdout.write('x')\n", policy)
    assert not _refused("import sys\nsys.stderr.write('x')\n", policy)
    assert _refused("memoryview(b'')\n", policy) and not _refused("memoryview(b'')\n")


@pytest.mark.parametrize(
    "data, message",
    [
        ([1, 2], "must be a JSON object"),
        ({"modul": {}}, "unknown key"),
        ({"forbidden_names": ["input"]}, "allow-list now"),
        ({"modules": ["requests"]}, "modules must be an object"),
        ({"modules": {"requests": 1}}, "expected \"\\*\", a list"),
        ({"modules": {"requests": {"members": "*", "extra": 1}}}, "unknown key"),
        ({"modules": {"requests": {"get": 3}}}, "the reason must be a string"),
        ({"modules": {"not a module": "*"}}, "not a valid dotted name"),
        ({"modules": {"requests": ["_private"]}}, "private names are never allowed"),
        ({"modules": {"_thread": "*"}}, "private names are never allowed"),
        ({"modules": {"os": "*"}}, "os can never be allowed"),
        ({"modules": {"importlib.util": ["find_spec"]}}, "can never be allowed"),
        ({"modules": {"sys": ["modules"]}}, "sys.modules can never be allowed"),
        ({"modules": {"io": ["FileIO"]}}, "io.FileIO can never be allowed"),
        ({"modules": {"sys": "*"}}, "not allow the whole module"),
        ({"modules": {"json": ["dumps"], "math": ["pi"]}}, "math is already allowed whole"),
        ({"modules": {"sniplets": "*"}}, "the task's own package"),
        ({"modules": {"requests": {"reason": 3, "members": "*"}}}, "reason: expected a non-empty string"),
        ({"builtins": ["exec"]}, "exec can never be allowed"),
        ({"builtins": ["__import__"]}, "private names are never allowed"),
        ({"builtins": ["no_such_builtin"]}, "not a builtin"),
        ({"builtins": "exit"}, "expected a list of names"),
        ({"refuse": {"modules": ["requests"]}}, "not allowed in the first place"),
        ({"refuse": {"members": {"math": ["pi"]}}}, "no member list"),
        ({"refuse": {"everything": True}}, "refuse must be an object"),
        ({"description": 3}, "description must be a string"),
    ],
)
def test_bad_extensions_raise_value_error(data, message):
    with pytest.raises(ValueError, match=message):
        POLICY.extended(data, "test.json")


@pytest.mark.parametrize(
    "content, message",
    [("{not json", "not valid JSON"), ('{"forbiden_names": ["x"]}', "unknown key")],
)
def test_bad_policy_files_raise_value_error(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_policy(path)


def test_missing_policy_file_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read guard policy"):
        load_policy(tmp_path / "nope.json")


BROAD = {
    "modules": {"requests": "*", "lxml.etree": "*", "sys": ["getswitchinterval"]},
    "builtins": ["exit", "quit", "copyright"],
}


@pytest.mark.parametrize(
    "source",
    [
        "x = 1\nx._private\n",
        "import requests\nrequests._internal\n",
        "().__class__\n",
        "# comment\n# coding: latin-1\nx = 1\n",
        "exec('1')\n",
        "import os\n",
        "print('{0.__globals__}')\n",
    ],
)
def test_no_extension_switches_off_the_non_negotiable_rules(source):
    assert _refused(source, POLICY.extended(BROAD, "broad.json"))


def test_own_packages_are_always_allowed():
    assert OWN_PACKAGES == {"queries", "sniplets"}
    assert POLICY.is_module("sniplets.marc21") and POLICY.is_module("queries.abccorp.mytask_xml")
    assert not POLICY.is_module("queries.full_text_search.query")  # query modules hold ``query``
