# mock.patch resolves dotted names to modules
from unittest import mock
mock.patch('os.system')
