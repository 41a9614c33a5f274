# readline reads any file as its history, line by line, by name
import readline

readline.read_history_file("/etc/passwd")
for i in range(1, readline.get_current_history_length() + 1):
    print(readline.get_history_item(i))
