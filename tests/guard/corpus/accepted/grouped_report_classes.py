# Report with collections.defaultdict, functools.lru_cache, operator.itemgetter, sorted(key=...); near-misses: attrgetter with literal names, methodcaller("upper")
import sys
from collections import defaultdict, OrderedDict
from functools import lru_cache, partial
from operator import attrgetter, itemgetter, methodcaller

from sniplets import mysql_connect
from queries.abccorp import grouped_txt as mainquery


class Title:
    def __init__(self, name, publisher, year):
        self.name = name
        self.publisher = publisher
        self.year = year


@lru_cache(maxsize=None)
def normalise(publisher):
    return " ".join(publisher.split()).title()


def main():
    cursor = mysql_connect.connect().cursor()
    cursor.execute(mainquery.query)
    groups = defaultdict(list)
    for name, publisher, year in cursor:
        groups[normalise(publisher)].append(Title(name, publisher, year))
    ordered = OrderedDict(sorted(groups.items(), key=itemgetter(0)))
    upper = methodcaller("upper")
    by_year = partial(sorted, key=attrgetter("year", "name"))
    for publisher, titles in ordered.items():
        print(upper(publisher))
        for t in by_year(titles):
            print("   %s  %s" % (t.year, t.name))


main()
