# sqlite3.connect creates and reads files
import sqlite3
sqlite3.connect('/tmp/x.db')
