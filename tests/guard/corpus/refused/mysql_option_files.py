# mysql.connector.connect(option_files=...) reads a configuration file by name (a .cnf with credentials)
import mysql.connector

mysql.connector.connect(option_files="/etc/mysql/debian.cnf", option_groups=["client"])
