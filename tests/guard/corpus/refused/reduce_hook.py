# a __reduce__ hook that returns eval for copy/pickle to call
import copy


class Evil:
    def __reduce__(self):
        return (eval, ('1',))


copy.copy(Evil())
