"""A MEMO task with a library, shared by the end-to-end tests of both sandboxes.

Its script imports its own query module and a library query, and a sniplet that
imports another sniplet relatively; its SQL holds every quoting hazard.
"""

MAIN = '''\
from queries.abccorp import mytask_xml as mainquery
from queries import titles
from sniplets import xmlish

print(xmlish.element("sql", mainquery.query))
print(xmlish.element("lib", titles.query))
'''
XMLISH = '''\
from . import escaping

def element(tag, text):
    return "<%s>%s</%s>" % (tag, escaping.escape(text), tag)
'''
ESCAPING = '''\
def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;")
'''
TRICKY_SQL = "SELECT 'it''s', \"dq\", ''' \"\"\" \\n \\\\ 'Ökonomie' '日本' FROM t WHERE a < 1 & b"


def seed_library_task(memo, titles_sql: str = "SELECT title FROM books") -> str:
    """``abccorp/mytask.xml`` with its sniplets and library query; its task id."""
    memo.sniplet("xmlish", XMLISH)
    memo.sniplet("escaping", ESCAPING)
    memo.query("titles", titles_sql)
    return memo.task("abccorp", "mytask.xml", MAIN, sql=TRICKY_SQL)


def library_task_export(titles_sql: str = "SELECT title FROM books") -> bytes:
    """What ``seed_library_task``'s script must print, byte for byte."""
    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;")

    return f"<sql>{esc(TRICKY_SQL)}</sql>\n<lib>{esc(titles_sql)}</lib>\n".encode()
