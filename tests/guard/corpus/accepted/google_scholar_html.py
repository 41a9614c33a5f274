# Google Scholar inclusion page: HTML meta tags with string.Template; near-misses: Template.substitute, "citation_pdf_url", safe_substitute
import sys
from string import Template
from html import escape

from sniplets import mysql_connect
from queries.abccorp import scholar_html as mainquery

PAGE = Template("""<!doctype html>
<html><head>
<meta name="citation_title" content="$title">
<meta name="citation_author" content="$author">
<meta name="citation_publication_date" content="$year">
<meta name="citation_pdf_url" content="$pdf">
</head><body><a href="$pdf">Open the PDF (Open Access)</a></body></html>
""")


def main():
    cursor = mysql_connect.connect().cursor(dictionary=True)
    cursor.execute(mainquery.query)
    for row in cursor:
        values = {k: escape(str(v)) for k, v in row.items()}
        sys.stdout.write(PAGE.safe_substitute(values))
        sys.stdout.write("\n<!-- next -->\n")


main()
