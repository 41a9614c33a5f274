# glob lists directories (os.listdir)
import glob
print(glob.glob('/home/*'))
