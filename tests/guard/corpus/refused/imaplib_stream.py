# imaplib.IMAP4_stream starts the command it is given as the IMAP server
import imaplib

imaplib.IMAP4_stream("id > /tmp/pwned")
