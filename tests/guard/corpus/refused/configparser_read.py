# configparser reads any INI file by name: the database client's credentials
import configparser

parser = configparser.ConfigParser()
parser.read("/etc/mysql/debian.cnf")
print({section: dict(parser[section]) for section in parser.sections()})
