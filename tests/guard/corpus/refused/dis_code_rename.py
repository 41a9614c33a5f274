# dis.Bytecode hands out a function's code object; replace() renames its global 'fetch' to 'open', type(f) rebuilds it
import dis


def reader(path):
    return fetch(path).read()  # noqa: F821


code = dis.Bytecode(reader).codeobj.replace(co_names=("open", "read"))
print(type(reader)(code, {})("/etc/passwd"))
