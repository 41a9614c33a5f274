"""The rules one by one: scopes, builtins, attributes, templates, arguments."""

from __future__ import annotations

import pytest

from guard import check_source


def rules(source: str) -> list[tuple[str, str]]:
    return [(f.rule, f.label) for f in check_source(source, "t").findings]


def accepted(source: str) -> bool:
    report = check_source(source, "t")
    assert report.syntax_error is None, report.syntax_error
    return report.ok


# ------------------------------------------------------------------ scopes
SCRIPTS_OWN = {
    "a parameter named open": "def f(open):\n    return open + 1\n",
    "a lambda parameter named open": "f = lambda open: open * 2\n",
    "a comprehension variable named open": "print([open for open in range(3)])\n",
    "a for target named open, read in the loop": "for open in [1, 2]:\n    print(open)\n",
    "with ... as open": "import io\nwith io.StringIO() as open:\n    open.write('x')\n",
    "except ... as open, in a function": (
        "def f():\n    try:\n        pass\n    except ValueError as open:\n        print(open)\n"),
    "a class attribute named open": "class A:\n    open = 1\n    def f(self):\n        return self.open + A.open\n",
    "a module-level binding before the read": "open = print\ndef f():\n    return open('x')\nf()\n",
    "a binding earlier in the same block": "if True:\n    open = print\n    open('x')\n",
    "an attribute named like a module": "visit = None\nprint(visit.os, visit.sys, visit.subprocess)\n",
    "an allowed module under a module's name": "import json as os\nprint(os.dumps({}))\n",
    "a local named type, read after": "type = 'book'\nprint(type)\n",
    "nonlocal": "def f():\n    x = 1\n    def g():\n        nonlocal x\n        x = 2\n    return g\n",
}


@pytest.mark.parametrize("source", SCRIPTS_OWN.values(), ids=SCRIPTS_OWN.keys())
def test_local_bindings_are_the_scripts_own(source):
    assert accepted(source), rules(source)


LAUNDERED = {
    "o = open": ("o = open\nprint(o('/etc/passwd').read())\n", ("builtin", "open")),
    "a default argument": ("def f(reader=open):\n    return reader\n", ("builtin", "open")),
    "a lambda default": ("f = lambda x=eval: x\n", ("builtin", "eval")),
    "a read before the module-level binding": ("def f():\n    return open('x')\nopen = print\n", ("builtin", "open()")),
    "a read after the for loop": ("for open in []:\n    pass\nprint(open)\n", ("builtin", "open")),
    "a read after the if block": ("if True:\n    open = print\nopen('x')\n", ("builtin", "open()")),
    "a read after del": ("open = print\ndel open\nopen('x')\n", ("builtin", "open()")),
    "a read after except ... as deletes the name": (
        "open = print\ntry:\n    pass\nexcept ValueError as open:\n    pass\nopen('x')\n", ("builtin", "open()")),
    "walrus": ("if (o := open):\n    pass\n", ("builtin", "open")),
    "class body before the binding": ("class A:\n    x = open\n    open = 1\n", ("builtin", "open")),
    "global in a function": ("def f():\n    global open\n    open = print\ndef g():\n    open('x')\n",
                             ("builtin", "open()")),
}


@pytest.mark.parametrize("source, expected", LAUNDERED.values(), ids=LAUNDERED.keys())
def test_rebinding_does_not_launder_a_builtin(source, expected):
    assert expected in rules(source)


def test_a_name_bound_to_a_module_and_a_member_is_checked_as_both():
    source = "import sys\nif len([]):\n    sys = 1\nsys.modules\n"
    assert ("member", "sys.modules") in rules(source)


def test_a_later_definite_binding_replaces_an_earlier_one():
    """``import datetime`` then ``from datetime import datetime``: after the
    second, ``datetime`` is the class, not the module."""
    source = "import datetime\nfrom datetime import datetime\nprint(isinstance(1, datetime))\n"
    assert accepted(source)
    assert ("module-as-value", "datetime") in rules(source.replace("from datetime import datetime\n", ""))


def test_an_alias_by_assignment_continues_the_chain():
    source = "import sys\nout = sys.stdout.buffer\nout.write(b'x')\nout.raw\n"
    assert rules(source) == [("member", "out.raw")]


# ------------------------------------------------------------------ imports and members
@pytest.mark.parametrize(
    "source, expected",
    [
        ("import os\n", ("import", "import os")),
        ("import xml\n", ("import", "import xml")),
        ("import requests\n", ("import", "import requests")),
        ("from os import path\n", ("import", "from os import path")),
        ("from . import x\nfrom .. import y\n", ("import", "from .. import")),
        ("import sys\nsys.modules\n", ("member", "sys.modules")),
        ("import sys\nsys.stdin.read()\n", ("member", "sys.stdin.read()")),
        ("from sys import stdout\nstdout.buffer.raw\n", ("member", "stdout.buffer.raw")),
        ("import io\nio.open('x')\n", ("member", "io.open()")),
        ("import enum\nenum.bltns\n", ("member", "enum.bltns")),
        ("import statistics\nstatistics.sys\n", ("member", "statistics.sys")),
        ("import xml.etree.ElementTree as ET\nET.io\n", ("member", "ET.io")),
        ("import xml.etree.ElementTree\nxml.sax.parse('x')\n", ("import", "xml.sax.parse()")),
        ("from sniplets import marc21\nmarc21.sys.modules\n", ("member", "marc21.sys.modules")),
        ("import sys\nx = sys\n", ("module-as-value", "sys")),
        ("import urllib.parse\nf(urllib.parse)\n", ("module-as-value", "urllib.parse")),
        ("from sniplets import marc21\nx = marc21\n", ("module-as-value", "marc21")),
        ("from random import _os\n", ("private-attribute", "from random import _os")),
    ],
)
def test_imports_and_members_by_allow_list(source, expected):
    assert expected in rules(source)


@pytest.mark.parametrize(
    "source",
    [
        "import datetime\ndatetime.datetime.now()\ndatetime.time(1)\n",
        "import time\ntime.time()\n",
        "import unicodedata\nunicodedata.decimal('1')\n",
        "import concurrent.futures\nconcurrent.futures.ThreadPoolExecutor()\n",
        "from concurrent.futures import ThreadPoolExecutor\n",
        "import mysql.connector\nfrom mysql.connector import errorcode, errors\nmysql.connector.errors.Error\n",
        "import html.parser\nclass P(html.parser.HTMLParser):\n    pass\n",
        "import email.utils\nemail.utils.format_datetime(None)\n",
        "import platform\nplatform.python_version()\n",
    ],
)
def test_allowed_modules_and_members_are_accepted(source):
    assert accepted(source), rules(source)


# ------------------------------------------------------------------ builtins
@pytest.mark.parametrize(
    "source, expected",
    [
        ("exec('1')\n", ("builtin", "exec()")),
        ("compile('1', 'x', 'exec')\n", ("builtin", "compile()")),
        ("globals()\n", ("builtin", "globals()")),
        ("dir()\n", ("builtin", "dir()")),
        ("input()\n", ("builtin", "input()")),
        ("x = 1\nsetattr(x, 'a', 1)\n", ("builtin", "setattr()")),
        ("memo = __builtins__\n", ("builtin", "__builtins__")),
        ("exit(0)\n", ("builtin", "exit()")),
        ("type('X', (), {})\n", ("builtin", "type()")),
        ("t = type\n", ("builtin", "type")),
        ("g = getattr\n", ("dynamic-attribute", "getattr")),
        ("x = 1\ngetattr(x, 'a' + 'b')\n", ("dynamic-attribute", "getattr()")),
        ("x = 1\ngetattr(x, '_secret')\n", ("private-attribute", "getattr(…, '_secret')")),
        ("print(__file__)\n", ("unbound-name", "__file__")),
        ("print(undefined)\n", ("unbound-name", "undefined")),
        ("from tinyhtml import *\nos.system('x')\n", ("unbound-name", "os.system()")),
    ],
)
def test_builtins_by_allow_list(source, expected):
    assert expected in rules(source)


# ------------------------------------------------------------------ attributes
@pytest.mark.parametrize(
    "source, expected",
    [
        ("().__class__\n", ("private-attribute", ".__class__")),
        ("x = 1\nx._private\n", ("private-attribute", "._private")),
        ("x = 1\nx.__dict__\n", ("private-attribute", ".__dict__")),
        ("class A:\n    def f(self):\n        return super().__getattribute__('x')\n",
         ("private-attribute", ".__getattribute__")),
        ("class A:\n    def f(self):\n        return self._never_defined\n", ("private-attribute", "._never_defined")),
        ("class A:\n    _x = 1\n    @staticmethod\n    def f(o):\n        return o._x\n", ("private-attribute", "._x")),
        ("class A:\n    _x = 1\n    def f(self, other):\n        self = other\n        return self._x\n",
         ("private-attribute", "._x")),
        ("import html.parser\nclass P(html.parser.HTMLParser):\n    def f(self):\n        return self._x\n",
         ("private-attribute", "._x")),
        ("g = (x for x in [])\ng.gi_frame\n", ("frame-attribute", ".gi_frame")),
        ("match 1:\n    case object(__class__=c):\n        pass\n", ("private-attribute", ".__class__")),
        ("class C: pass\nmatch 1:\n    case C(x):\n        pass\n", ("positional-class-pattern", "case C(…)")),
    ],
)
def test_private_and_frame_attributes_are_refused(source, expected):
    assert expected in rules(source)


def test_own_private_attributes_need_a_class_of_the_script():
    base = ("class A:\n    def __init__(self):\n        self._rows = []\n"
            "    def n(self):\n        return len(self._rows)\n")
    assert accepted(base)
    assert accepted(base + "class B(A):\n    def m(self):\n        return self._rows\n")
    with_metaclass = "import abc\n" + base.replace("class A:", "class A(metaclass=abc.ABCMeta):")
    assert ("private-attribute", "._rows") in rules(with_metaclass)
    library_base = "import html.parser\n" + base.replace("class A:", "class A(html.parser.HTMLParser):")
    assert ("private-attribute", "._rows") in rules(library_base)


# ------------------------------------------------------------------ format templates
@pytest.mark.parametrize(
    "source, expected",
    [
        ("def f(): pass\nprint('{0.__globals__}'.format(f))\n", ("format-template", "{….__globals__}")),
        ("x = '{0[__builtins__]}'\n", ("format-template", "{…[__builtins__]}")),
        ("t = '{0.' '__globals__}'\n", ("format-template", "{….__globals__}")),
        ("t = '{0.' + '__globals__}'\nt.format(1)\n", ("format-template", ".format()")),
        ("t = g()\nt.format(1)\n", ("format-template", ".format()")),
        ("d = {}\n('{0.' + 'x}').format_map(d)\n", ("format-template", ".format_map()")),
        ("t = g()\nstr.format(t, 1)\n", ("format-template", ".format()")),
        ("f = str.format\n", ("format-template", ".format()")),
        ("import logging\nfmt = g()\nlogging.Formatter(fmt, style='{')\n",
         ("argument", "logging.Formatter(fmt (a '{' style template the guard cannot read))")),
    ],
)
def test_format_templates_the_guard_cannot_read_are_refused(source, expected):
    assert expected in rules(source)


# ------------------------------------------------------------------ arguments
@pytest.mark.parametrize(
    "source, label",
    [
        ("import xml.etree.ElementTree as ET\nET.parse('/etc/x.xml')\n", "xml.etree.ElementTree.parse(source"),
        ("from xml.etree.ElementTree import iterparse\niterparse('/etc/x.xml')\n", "xml.etree.ElementTree.iterparse("),
        ("import xml.etree.ElementTree as ET\nET.ElementTree(file='/etc/x.xml')\n",
         "xml.etree.ElementTree.ElementTree("),
        ("import xml.dom.minidom\nxml.dom.minidom.parse('/etc/x.xml')\n", "xml.dom.minidom.parse("),
        ("import mysql.connector\nmysql.connector.connect(allow_local_infile=True)\n", "mysql.connector.connect("),
        ("import mysql.connector\nmysql.connector.connect(**{'option_files': 'x'})\n", "mysql.connector.connect("),
        ("import logging\nlogging.basicConfig(filename='/tmp/x.py')\n", "logging.basicConfig(filename="),
        ("import functools\nfunctools.wraps(f, ('__globals__',))\n", "functools.wraps(positional"),
        ("import xml.etree.ElementTree as ET\np = ET.parse\n", "ET.parse"),
    ],
)
def test_arguments_that_read_files_or_name_attributes_are_refused(source, label):
    assert any(rule == "argument" and found.startswith(label) for rule, found in rules(source)), rules(source)


def test_in_memory_streams_may_be_parsed():
    assert accepted("import io\nimport xml.etree.ElementTree as ET\ns = io.BytesIO(b'<a/>')\nET.parse(s)\n")
    assert accepted("from io import StringIO\nfrom xml.dom import minidom\nminidom.parse(StringIO('<a/>'))\n")


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import operator\noperator.attrgetter('buffer.raw')\n", ("dynamic-attribute", "operator.attrgetter()")),
        ("from operator import attrgetter as pick\nn = 'x'\npick(n)\n", ("dynamic-attribute", "pick()")),
        ("import operator\nf = operator.methodcaller\n", ("dynamic-attribute", "operator.methodcaller")),
    ],
)
def test_attribute_by_string_functions_take_literal_public_names_only(source, expected):
    assert expected in rules(source)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import json as __builtins__\n", ("builtin", "__builtins__ =")),
        ("def f():\n    global __builtins__\n    __builtins__ = {}\n", ("builtin", "__builtins__ =")),
        ("import operator\nf = None\noperator.methodcaller('format', f)\n",
         ("dynamic-attribute", "operator.methodcaller()")),
        ("import logging\ncfg = {}\nlogging.basicConfig(**cfg)\n",
         ("argument", "logging.basicConfig(*arguments or **keywords)")),
    ],
)
def test_machinery_the_guard_cannot_see_through_is_refused(source, expected):
    """Rebinding __builtins__ changes what every later builtin name means;
    methodcaller('format') formats a template from data; ``**cfg`` hides a
    '{' style or a file name."""
    assert expected in rules(source)


def test_a_parameter_named_builtins_is_only_a_local():
    assert accepted("def f(__builtins__):\n    return __builtins__\n")


def test_hidden_keywords_are_accepted_where_only_keywords_are_refused():
    """mysql_connect's connect(**settings): the run-time layer stops what option files would read."""
    assert accepted("import mysql.connector\nsettings = {}\nmysql.connector.connect(**settings)\n")
