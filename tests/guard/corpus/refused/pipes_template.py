# a pipes.Template runs its pipeline through the shell when it copies or opens
import pipes

t = pipes.Template()
t.append("id", "--")
t.copy("/etc/hostname", "/tmp/out")
