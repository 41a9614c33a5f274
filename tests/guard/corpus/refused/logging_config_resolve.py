# logging.config's configurator resolves dotted names to objects (its resolve/_resolve): os.system
from logging import config

config.BaseConfigurator({}).resolve("os.system")("id")
