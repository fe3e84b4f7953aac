"""pyaes: encrypt and decrypt 320 KB with AES-256 in CBC mode with PKCS#7 padding, through
pyaes's streaming `Encrypter`/`Decrypter`, as a pure-Python application without a C crypto
library does. Each 16-byte block goes through the AES object holding the key schedule."""
import random

import pyaes

import workload

SIZE = 320 * 1024


def work(plaintext, key, iv):
    encrypter = pyaes.Encrypter(pyaes.AESModeOfOperationCBC(key, iv))
    ciphertext = encrypter.feed(plaintext) + encrypter.feed()
    decrypter = pyaes.Decrypter(pyaes.AESModeOfOperationCBC(key, iv))
    decrypted = decrypter.feed(ciphertext) + decrypter.feed()
    assert decrypted == plaintext
    return ciphertext


if __name__ == "__main__":
    rng = random.Random(14)
    data = bytes(rng.getrandbits(8) for _ in range(SIZE))
    workload.run(work, data, bytes(range(32)), bytes(range(16, 32)))
