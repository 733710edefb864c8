import errno
import os

from keras_enlca.errors import write_error


def test_write_error_names_the_final_path():
    error = write_error(
        "out/m.tflite",
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "out/.m.abc.tmp.tflite"),
    )
    assert str(error) == "out/m.tflite: cannot write (No space left on device)."
    assert error.errno == errno.ENOSPC
    assert write_error("x", error) is error
