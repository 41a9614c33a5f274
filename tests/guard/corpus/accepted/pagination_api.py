# Fetches extra data from a public HTTP API with urllib.request and json; near-misses: urlopen, Request, response.read(), http.client
import json
import sys
import urllib.error
import urllib.request

from sniplets import mysql_connect
from queries.abccorp import api_json as mainquery

API = "https://api.crossref.org/works/"


def lookup(doi):
    req = urllib.request.Request(API + doi, headers={"User-Agent": "MEMO/1.0 (oapen.org)"})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return json.loads(resp.read().decode("utf-8"))["message"]
    except urllib.error.HTTPError as err:
        return {"error": err.code}


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    out = []
    for handle, doi in cursor.fetchall():
        meta = lookup(doi) if doi else {}
        out.append({"handle": handle, "doi": doi, "cited_by": meta.get("is-referenced-by-count")})
    json.dump(out, sys.stdout, indent=2)


main()
