# platform re-exports os
import platform
platform.os.popen('id')
