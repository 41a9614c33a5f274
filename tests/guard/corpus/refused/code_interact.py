# code.InteractiveInterpreter executes strings
import code
code.InteractiveInterpreter().runsource('print(1)')
