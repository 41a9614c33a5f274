# pydoc.pipepager runs a shell command
import pydoc
pydoc.pipepager('x', 'id')
