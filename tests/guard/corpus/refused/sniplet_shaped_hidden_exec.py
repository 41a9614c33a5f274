# a realistic sniplet with one exec hidden in a helper
from sniplets import mysql_connect


def rows(query):
    cursor = mysql_connect.connect().cursor()
    cursor.execute(query)
    return cursor.fetchall()


def apply_rule(rule, row):
    exec(rule, {'row': row})
    return row
