"""BearerAuth cost per request: JwtVerifier cached vs uncached (max_cache=0), StaticTokens; one run, compare within it.

    python benches/auth_cost.py
"""
import json, time, timeit
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from streamcore.auth import BearerAuth, JwtVerifier, ProtectedResource, StaticTokens, AccessToken
URL = "http://127.0.0.1:8000/mcp"
pr = ProtectedResource(URL, ["https://as"])
def per(f, n):
    return min(timeit.repeat(f, number=n, repeat=5)) / n * 1e6
for name, key, alg, A in (("ES256", ec.generate_private_key(ec.SECP256R1()), "ES256", jwt.algorithms.ECAlgorithm),
                          ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", jwt.algorithms.RSAAlgorithm)):
    jwk = json.loads(A.to_jwk(key.public_key())); jwk["kid"] = "k"
    tok = jwt.encode({"iss": "https://as", "sub": "u", "aud": URL, "exp": int(time.time()) + 3600, "scope": "a"}, key, algorithm=alg, headers={"kid": "k"})
    h = [(b"authorization", b"Bearer " + tok.encode())]
    cold = BearerAuth(JwtVerifier({"keys": [jwk]}, issuer="https://as", max_cache=0), pr)
    warm = BearerAuth(JwtVerifier({"keys": [jwk]}, issuer="https://as"), pr)
    c, w = per(lambda: cold(h), 500), per(lambda: warm(h), 20000)
    print(f"{name}: uncached {c:.1f} us, cached {w:.2f} us per request (ratio {c/w:.0f}x)")
st = BearerAuth(StaticTokens({"x": AccessToken(subject="u", audience=(URL,))}), pr)
print(f"StaticTokens: {per(lambda: st([(b'authorization', b'Bearer x')]), 20000):.2f} us per request")
