# exec hidden as a default argument
def run(code, runner=exec):
    runner(code)

run('print(1)')
