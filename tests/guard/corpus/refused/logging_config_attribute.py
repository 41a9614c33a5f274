# logging.config reached as an attribute
import logging
logging.config.dictConfig({'version': 1})
