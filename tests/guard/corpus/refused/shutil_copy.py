# shutil copies files
import shutil
shutil.copyfile('/etc/passwd', '/tmp/x')
