# Generates tests/vectors/flag_buckets.json with Python's hashlib, independently of the Rust and
# SQL implementations: python3 tests/vectors/gen_flag_buckets.py > tests/vectors/flag_buckets.json
import hashlib, json, uuid, random
random.seed(9)
users = ["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
         "6f1c2b9e-0d3a-4c5b-8e7f-a1b2c3d4e5f6"] + [str(uuid.UUID(int=random.getrandbits(128), version=4)) for _ in range(27)]
flags = ["auto_booking", "auto_booking_kill_switch", "x"]
out = []
for i, u in enumerate(users):
    for f in (flags if i < 3 else [flags[i % 3]]):
        h = hashlib.sha256(f"{f}:{u}".encode()).digest()
        out.append({"flag": f, "user": u, "bucket": int.from_bytes(h[:4], "big") % 10000})
doc = {"hash": "bucket = big-endian u32 of the first 4 bytes of SHA-256(utf8(flag + ':' + lower-case user uuid)) mod 10000; in when bucket < rollout_bp",
       "generated_by": "python3 hashlib (independent of both the Rust and the SQL implementation)",
       "buckets": out}
print(json.dumps(doc, indent=2))
