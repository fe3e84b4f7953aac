"""pypng: decode a 2560x1440 RGB PNG saved with adaptive scanline filters (sub, up, average,
Paeth: pypng undoes them in Python), then write it back as an interlaced PNG, as an image
pipeline without C extensions does. Each scanline is passed as a bytearray to the filter
methods of the Reader."""
import io

import png

import workload


def work(data):
    width, height, rows, info = png.Reader(bytes=data).read()
    pixels = [bytearray(row) for row in rows]
    out = io.BytesIO()
    png.Writer(width, height, greyscale=False, bitdepth=8, interlace=True).write(out, pixels)
    return out.getvalue()


if __name__ == "__main__":
    workload.run(work, workload.read_input("photo.png", binary=True))
