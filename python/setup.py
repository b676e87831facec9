"""pip's entry into the CMake build: the one extension, umpager._umpager, is built by the
project's CMake (it links the whole C++ runtime) and copied where setuptools wants it.

Environment: CMAKE_ARGS (extra configure arguments, e.g. -DUMPAGER_WITH_CUDA=OFF),
UMPAGER_PIP_BUILD_DIR (the CMake build tree; default <checkout>/build-pip),
UMPAGER_PIP_JOBS (parallel build jobs; default 2).
"""
import glob
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent  # the checkout: python/ is one level below CMakeLists.txt


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        if not (ROOT / "CMakeLists.txt").exists():
            raise RuntimeError("umpager's setup.py builds from a checkout: run pip install on <checkout>/python "
                               "with --no-build-isolation (an sdist copy has no C++ sources)")
        build = Path(os.environ.get("UMPAGER_PIP_BUILD_DIR", ROOT / "build-pip"))
        configure = ["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                     f"-DPython3_EXECUTABLE={sys.executable}", "-DUMPAGER_WITH_PYTHON=ON", "-DBUILD_TESTING=OFF",
                     *shlex.split(os.environ.get("CMAKE_ARGS", ""))]
        subprocess.check_call(configure)
        subprocess.check_call(["cmake", "--build", str(build), "--target", "umpager_python",
                               "-j", os.environ.get("UMPAGER_PIP_JOBS", "2")])
        built = glob.glob(str(build / "python" / "umpager" / "_umpager*.so"))
        if len(built) != 1:
            raise RuntimeError(f"expected one built _umpager module in {build}/python/umpager, found {built}")
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built[0], target)


setup(ext_modules=[Extension("umpager._umpager", sources=[])], cmdclass={"build_ext": CMakeBuild})
