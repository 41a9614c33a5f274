# webbrowser starts a program
import webbrowser
webbrowser.open('file:///etc/passwd')
