"""Findings of the second red team (full stack) on the static guard, kept as tests."""

from __future__ import annotations

import pytest

from guard import check_source


@pytest.mark.parametrize("source", [
    "import operator\nframe = operator.attrgetter('gi_frame')\n",
    "import operator\nback = operator.attrgetter('f_back')\n",
    "import operator\ncall = operator.methodcaller('f_globals')\n",
    "x = '{0.gi_frame.f_back.f_locals}'.format(1)\n",
    "import logging\nf = logging.Formatter('{msg.tb_frame}', style='{')\n",
    "import gzip\ng = gzip.GzipFile('/tmp/x.gz', 'wb')\n",
    "import gzip\ng = gzip.GzipFile(filename='x.gz')\n",
])
def test_frames_by_string_and_gzip_by_file_name_are_refused(source):
    assert not check_source(source).ok


@pytest.mark.parametrize("source", [
    "import gzip, sys\ng = gzip.GzipFile(fileobj=sys.stdout.buffer, mode='wb')\ng.write(b'x')\ng.close()\n",
    "import gzip, io\nbuf = io.BytesIO()\nwith gzip.GzipFile(fileobj=buf, mode='wb') as g:\n    g.write(b'x')\n",
    "import operator\ntitle = operator.attrgetter('title')\n",
    "x = '{0.title} {1[name]}'.format(1, 2)\n",
])
def test_report_idioms_next_to_them_are_accepted(source):
    report = check_source(source)
    assert report.ok, [f.summary() for f in report.findings]
