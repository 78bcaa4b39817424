"""Loads a memlab language-model checkpoint into PyTorch: the gpt or the mosaic as a torch.nn.Module
with memlab's exact forward pass, and memlab's byte-level BPE tokenizer (encode, decode).

Standard library, torch (1.13 or 2.x) and numpy only. The stored conventions it has to undo are in
docs/python-loader.md; the forward passes follow lib/nn/gpt.c, lib/nn/mosaic.c and lib/nn/lm.c, and
docs/fidelity.md relates them to the public PyTorch code.

    import memlab_torch
    model = memlab_torch.load("out/babistories_gpt.safetensors")   # eval mode, float32
    ids = model.tokenizer.encode("Lily had a red ball.")
    losses = model.score(ids)          # -log p(token t+1 | tokens 0..t), one per token after the first
    print(model.tokenizer.decode(ids))

As a command, the same CSV as `memlab babistories score` (position,token,loss):

    python3 python/memlab_torch.py score CKPT TEXTFILE [--vocab-dir DIR] [--float64]
"""
import hashlib
import json
import math
import os
import struct
import sys
import unicodedata

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["load", "read_safetensors", "MemlabLM", "Tokenizer", "EOT_TEXT"]

EOT_TEXT = "<|endoftext|>"
PARAM_SCALE = 10.0                  # the mosaic's per-head scalars are stored divided by 10
LIBRARY_KEY_CAP = 5.0               # times the power: 5 contextual, 10 persistent
NANO_KEY_CAP = math.log(65535.0)    # nanoMosaics: both memories
LN_EPS = 1e-5
NORM_EPS = 1e-12                    # rows divided by max(norm, 1e-12)

# ---- safetensors --------------------------------------------------------------------------------

_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16}


def read_safetensors(path):
    """(tensors, metadata): every tensor of a safetensors file as a float numpy array (F32, F64, F16
    or BF16, as memlab reads them) and the __metadata__ strings."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
    (hlen,) = struct.unpack("<Q", raw[:8])
    if 8 + hlen > len(raw):
        raise ValueError(f"{path}: header of {hlen} bytes runs past the end of the file")
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = memoryview(raw)[8 + hlen:]
    tensors = {}
    for name, info in header.items():
        lo, hi = info["data_offsets"]
        buf = data[lo:hi]
        if info["dtype"] == "BF16":    # the top half of a float32
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] in _DTYPES:
            arr = np.frombuffer(buf, dtype=np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<"))
        else:
            raise ValueError(f"{path}: tensor {name}: dtype {info['dtype']} is not a float type")
        tensors[name] = arr.reshape(info["shape"]).copy()
    return tensors, meta


# ---- the tokenizer ------------------------------------------------------------------------------

def _byte_map():
    """GPT-2's byte -> character map: printable bytes as themselves, the other 68 as U+0100 + n."""
    printable = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or b >= 0xAE]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


# \s of Python's `regex` module (Unicode White_Space), which GPT-2's pattern and memlab use; str.isspace()
# differs from it on U+001C..U+001F.
_WHITE_SPACE = set(chr(c) for c in list(range(0x9, 0xE)) + [0x20, 0x85, 0xA0, 0x1680] + list(range(0x2000, 0x200B))
                   + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000])
_LETTER, _NUMBER, _SPACE, _OTHER = range(4)


def _char_class(ch):
    if ch in _WHITE_SPACE:
        return _SPACE
    cat = unicodedata.category(ch)    # a lone surrogate (an undecodable byte) is Cs: other
    return _LETTER if cat[0] == "L" else _NUMBER if cat[0] == "N" else _OTHER


def _pretoken_len(s, i):
    """Length of the pre-token at s[i:] under GPT-2's pattern
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
    (the alternatives tried in order, as lib/data/bpe.c does)."""
    n = len(s)
    if s[i] == "'" and i + 1 < n:
        if s[i + 1] in "stmd":
            return 2
        if s[i + 1:i + 3] in ("re", "ve", "ll"):
            return 3
    start = i + (s[i] == " ")
    if start < n:
        cls = _char_class(s[start])
        if cls != _SPACE:
            j = start + 1
            while j < n and _char_class(s[j]) == cls:
                j += 1
            return j - i
    j, last = i, i
    while j < n and _char_class(s[j]) == _SPACE:
        last = j
        j += 1
    if j == n or last == i:
        return j - i
    return last - i


class Tokenizer:
    """memlab's byte-level BPE (lib/data/bpe.c), GPT-2's algorithm: pre-tokens by GPT-2's pattern,
    each pre-token's UTF-8 bytes merged by rank, <|endoftext|> a special token."""

    def __init__(self, vocab, merges):
        """vocab: token (GPT-2's mapped characters) -> id; merges: "A B" strings, best first."""
        self.byte_char = _byte_map()
        self.char_byte = {c: b for b, c in self.byte_char.items()}
        self.encoder = dict(vocab)
        if EOT_TEXT not in self.encoder:
            raise ValueError("the vocabulary has no <|endoftext|>")
        self.eot = self.encoder[EOT_TEXT]
        self.decoder = {}
        for tok, i in self.encoder.items():
            self.decoder[i] = EOT_TEXT.encode() if i == self.eot else bytes(self.char_byte[c] for c in tok)
        self.merges = [tuple(line.split(" ")) for line in merges]
        self.ranks = {pair: r for r, pair in enumerate(self.merges)}
        self.cache = {}

    @classmethod
    def from_json(cls, path):
        """A tokenizer saved by memlab (`memlab tokenize --train`, babistories' tokenizer.json)."""
        with open(path, encoding="utf-8") as f:
            return cls.from_json_text(f.read(), path)

    @classmethod
    def from_json_text(cls, text, what="tokenizer"):
        """The same from the text of such a file (what a checkpoint carries as tokenizer_json)."""
        d = json.loads(text)
        if d.get("format") != "memlab-bpe" or d.get("version") != 1 or d.get("pretokenizer") != "gpt2":
            raise ValueError(f"{what}: not a memlab-bpe tokenizer of version 1 with the gpt2 pretokenizer")
        return cls(d["vocab"], d["merges"])

    @classmethod
    def from_gpt2(cls, vocab_dir):
        """GPT-2's own files: encoder.json and vocab.bpe."""
        with open(os.path.join(vocab_dir, "encoder.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        with open(os.path.join(vocab_dir, "vocab.bpe"), encoding="utf-8") as f:
            merges = [ln.rstrip("\n") for ln in f if ln.strip() and not ln.startswith("#version")]
        return cls(vocab, merges)

    def __len__(self):
        return len(self.encoder)

    def _word(self, word):
        """Token ids of one pre-token (a str whose characters are the mapped bytes)."""
        if word in self.cache:
            return self.cache[word]
        parts = list(word)
        while len(parts) > 1:
            # the adjacent pair of lowest rank, then all its occurrences left to right (GPT-2's bpe())
            ranked = [self.ranks[p] for p in zip(parts, parts[1:]) if p in self.ranks]
            if not ranked:
                break
            a, b = self.merges[min(ranked)]
            merged, k = [], 0
            while k < len(parts):
                if k + 1 < len(parts) and parts[k] == a and parts[k + 1] == b:
                    merged.append(a + b)
                    k += 2
                else:
                    merged.append(parts[k])
                    k += 1
            parts = merged
        ids = [self.encoder[p] for p in parts]
        self.cache[word] = ids
        return ids

    def encode_ordinary(self, text):
        """Token ids of text (str, or bytes: invalid UTF-8 bytes are characters of their own, as in
        memlab); "<|endoftext|>" is ordinary text here."""
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", errors="surrogateescape")
        out, i = [], 0
        while i < len(text):
            n = _pretoken_len(text, i)
            raw = text[i:i + n].encode("utf-8", errors="surrogateescape")
            out.extend(self._word("".join(self.byte_char[b] for b in raw)))
            i += n
        return out

    def encode(self, text):
        """Token ids of text, every "<|endoftext|>" the special token (memlab's bpe_encode)."""
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", errors="surrogateescape")
        out = []
        for k, piece in enumerate(text.split(EOT_TEXT)):
            if k:
                out.append(self.eot)
            out.extend(self.encode_ordinary(piece))
        return out

    def decode_bytes(self, ids):
        try:
            return b"".join(self.decoder[int(i)] for i in ids)
        except KeyError as err:
            raise ValueError(f"token id {err.args[0]} is out of range (vocabulary of {len(self)})") from None

    def decode(self, ids):
        """The text of ids (bytes that are not UTF-8 come back as U+FFFD)."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")


def _carried_tokenizer(ckpt_path, meta):
    """The tokenizer a checkpoint carries (tokenizer_json), checked against its tokenizer_sha256 as
    memlab checks it."""
    text = meta["tokenizer_json"]
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != meta.get("tokenizer_sha256"):
        raise ValueError(f"{ckpt_path}: its tokenizer does not match the sha256 it records "
                         "(the checkpoint is damaged or was edited)")
    return Tokenizer.from_json_text(text, f"{ckpt_path}: its tokenizer")


def _open_tokenizer(ckpt_path, ref, vocab_dir):
    """The tokenizer a checkpoint from before checkpoints carried theirs names: "gpt2" (with
    vocab_dir), or a memlab tokenizer .json at its recorded path or, when the run's folder has moved,
    beside the checkpoint (as memlab looks)."""
    if ref == "gpt2":
        if vocab_dir is None:
            raise ValueError(f"{ckpt_path}: trained with GPT-2's tokenizer: pass vocab_dir")
        return Tokenizer.from_gpt2(vocab_dir)
    if os.access(ref, os.R_OK):
        return Tokenizer.from_json(ref)
    beside = os.path.join(os.path.dirname(ckpt_path), os.path.basename(ref))
    if os.access(beside, os.R_OK):
        return Tokenizer.from_json(beside)
    raise ValueError(f"{ckpt_path}: its tokenizer {ref} is missing (also not beside the checkpoint)")


# ---- the models ---------------------------------------------------------------------------------

def _alibi_slopes(H):
    """The ALiBi paper's slopes, also for head counts that are not powers of two."""
    p = 1
    while 2 * p <= H:
        p *= 2
    return [2.0 ** (-8.0 * (h + 1) / p) for h in range(p)] + \
           [2.0 ** (-8.0 * (2 * (h - p) + 1) / (2 * p)) for h in range(p, H)]


def _rope(x):
    """Rotary embedding of x [B, H, T, hs] at positions 0..T-1: pairs (i, i + hs/2) turned by
    position * 10000^(-2i/hs) (GPT-NeoX's rotate-half form), angles in float64."""
    T, hs = x.shape[2], x.shape[3]
    inv = 1.0 / (10000.0 ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
    ang = torch.arange(T, dtype=torch.float64).view(T, 1) * inv.view(1, hs // 2)
    cos = torch.cat([ang.cos(), ang.cos()], -1).to(x.dtype)
    sin = torch.cat([ang.sin(), ang.sin()], -1).to(x.dtype)
    return x * cos + torch.cat([-x[..., hs // 2:], x[..., :hs // 2]], -1) * sin


def _heads(x, H):      # [B, T, C] -> [B, H, T, hs]
    B, T, C = x.shape
    return x.view(B, T, H, C // H).transpose(1, 2)


def _unheads(x):       # [B, H, T, hs] -> [B, T, C]
    B, H, T, hs = x.shape
    return x.transpose(1, 2).reshape(B, T, H * hs)


def _rownorm(x):
    return x / x.norm(dim=-1, keepdim=True).clamp(min=NORM_EPS)


class MemlabLM(torch.nn.Module):
    """A memlab gpt or mosaic. Parameters keep memlab's names with '.' written as '__' (a PyTorch
    module name cannot hold a dot); `param(name)` takes memlab's name. forward(ids [B, T] long) ->
    logits [B, T, vocab]. `config` holds the checkpoint's architecture keys."""

    def __init__(self, config, tensors, dtype=torch.float32):
        super().__init__()
        self.config = dict(config)
        self.params = torch.nn.ParameterDict(
            {name.replace(".", "__"): torch.nn.Parameter(torch.from_numpy(arr).to(dtype)) for name, arr in tensors.items()})
        self.tokenizer = None

    def param(self, name):
        """memlab's tensor `name`, or None (an absent bias)."""
        key = name.replace(".", "__")
        return self.params[key] if key in self.params else None

    def _ln(self, x, name):
        w = self.param(name + ".weight")
        return F.layer_norm(x, w.shape, w, self.param(name + ".bias"), LN_EPS)

    def _linear(self, x, name):
        return F.linear(x, self.param(name + ".weight"), self.param(name + ".bias"))

    # -- gpt (lib/nn/gpt.c) --
    def _gpt_block(self, x, l):
        c = self.config
        H, d = c["heads"], c["d"]
        h = self._ln(x, f"h.{l}.ln_1")
        # one [3d, d] matrix: rows 0..d-1 give q, d..2d-1 k, 2d..3d-1 v
        q, k, v = (_heads(t, H) for t in self._linear(h, f"h.{l}.attn.c_attn").split(d, dim=-1))
        if c["pos"] == "rope":
            q, k = _rope(q), _rope(k)
        T = x.shape[1]
        logits = (q @ k.transpose(-1, -2)) / math.sqrt(d // H)
        t = torch.arange(T)
        if c["pos"] == "alibi":
            m = torch.tensor(_alibi_slopes(H), dtype=x.dtype).view(1, H, 1, 1)
            logits = logits - m * (t.view(T, 1) - t.view(1, T)).to(x.dtype)
        logits = logits.masked_fill(t.view(1, T) > t.view(T, 1), float("-inf"))
        a = torch.softmax(logits, dim=-1) @ v
        x = x + self._linear(_unheads(a), f"h.{l}.attn.c_proj")
        h = self._linear(self._ln(x, f"h.{l}.ln_2"), f"h.{l}.mlp.c_fc")
        h = F.gelu(h, approximate="tanh" if c["gelu"] == "tanh" else "none")
        return x + self._linear(h, f"h.{l}.mlp.c_proj")

    # -- mosaic (lib/nn/mosaic.c) --
    def _key_cap(self, power):
        return NANO_KEY_CAP if self.config["mosaic_variant"] == "nano" else LIBRARY_KEY_CAP * power

    def _keys(self, h, pre, power):
        """W_k x, leaky-averaged over time per head (k_t + a k_{t-1} + a^2 k_{t-2} ..., a =
        e^-|10 theta|), normalised per head, times exp(min(power 10 kappa, cap))."""
        H = self.config["heads"]
        k = _heads(self._linear(h, pre + ".W_k"), H)
        T = k.shape[2]
        lam = (self.param(pre + ".leaky_key_beta") * PARAM_SCALE).abs().view(1, H, 1, 1)
        t = torch.arange(T)
        lag = (t.view(T, 1) - t.view(1, T)).to(k.dtype)
        coef = torch.exp(-lam * lag.clamp(min=0)) * (lag >= 0).to(k.dtype)
        k = _rownorm(coef @ k)
        s = torch.exp(torch.clamp(self.param(pre + ".kernel_beta") * (PARAM_SCALE * power), max=self._key_cap(power)))
        return k * s.view(1, H, 1, 1)

    def _mosaic_block(self, x, l):
        H = self.config["heads"]
        pre = f"h.{l}.ctx"
        h = self._ln(x, f"h.{l}.ln_1")
        k = self._keys(h, pre, 1)
        # values: c v~_t + (1 - c) v~_{t+1} (v~_T = 0), normalised, times e^(10 value_beta)
        v = _heads(self._linear(h, pre + ".W_v"), H)
        c = self.param(pre + ".value_coef").view(1, H, 1, 1)
        v = _rownorm(c * v + (1 - c) * F.pad(v[:, :, 1:], (0, 0, 0, 1)))
        v = v * torch.exp(self.param(pre + ".value_beta") * PARAM_SCALE).view(1, H, 1, 1)
        T = x.shape[1]
        t = torch.arange(T)
        logits = (k @ k.transpose(-1, -2)).masked_fill(t.view(1, T) >= t.view(T, 1), float("-inf"))
        att = torch.zeros_like(logits)
        att[:, :, 1:] = torch.softmax(logits[:, :, 1:], dim=-1)   # position 0 reads nothing
        x = x + self._linear(_unheads(att @ v), pre + ".c_proj")

        pre = f"h.{l}.pmem"
        k = self._keys(self._ln(x, f"h.{l}.ln_2"), pre, 2)
        Mk, Mv = self.param(pre + ".M_k"), self.param(pre + ".M_v")
        P, d = Mk.shape
        # tables [P, d]: head h's slot j is row j, columns h*hs .. h*hs + hs - 1
        Mk = Mk.view(P, H, d // H).transpose(0, 1)
        Mv = Mv.view(P, H, d // H).transpose(0, 1)
        y = torch.softmax(k @ Mk.transpose(-1, -2), dim=-1) @ Mv
        y = y * torch.exp(self.param(pre + ".value_beta") * PARAM_SCALE).view(1, H, 1, 1)
        return x + self._linear(_unheads(y), pre + ".c_proj")

    def forward(self, ids):
        c = self.config
        ids = torch.as_tensor(ids, dtype=torch.long)
        if ids.dim() == 1:
            ids = ids.view(1, -1)
        wte = self.param("wte")
        x = F.embedding(ids, wte)
        wpe = self.param("wpe")
        if wpe is not None:
            if ids.shape[1] > wpe.shape[0]:
                raise ValueError(f"{ids.shape[1]} tokens through a learned position table of {wpe.shape[0]}")
            x = x + wpe[:ids.shape[1]]
        block = self._gpt_block if c["arch"] == "gpt" else self._mosaic_block
        for l in range(c["layers"]):
            x = block(x, l)
        logits = self._ln(x, "ln_f") @ wte.t()
        if c["arch"] == "mosaic" and c["mosaic_variant"] == "library":
            logits = logits / math.sqrt(c["d"])
        return logits

    @torch.no_grad()
    def score(self, ids):
        """-log p of every token after the first, as `memlab babistories score`: windows of ctx + 1
        tokens overlapping by one, each token predicted from the tokens of its own window. A list of
        floats, one per token from ids[1] on."""
        T, out = self.config["ctx"], []
        for at in range(0, len(ids) - 1, T):
            n = min(len(ids) - at - 1, T)
            logp = torch.log_softmax(self.forward(ids[at:at + n]).double()[0], dim=-1)
            nxt = torch.as_tensor(ids[at + 1:at + n + 1], dtype=torch.long)
            out.extend((-logp[torch.arange(n), nxt]).tolist())
        return out


def _config(path, meta):
    if meta.get("memlab_model") != "lm":
        raise ValueError(f"{path}: not a memlab language-model checkpoint")
    arch = meta.get("arch")
    if arch not in ("gpt", "mosaic"):
        raise ValueError(f"{path}: architecture {arch!r}: this loader reads gpt and mosaic checkpoints")
    c = {"arch": arch, "pos": meta.get("pos", "learned")}
    for key in ("vocab", "ctx", "d", "layers", "heads", "pmem", "bias"):
        c[key] = int(meta[key])
    # absent keys: what memlab wrote before them (a gpt with the tanh GELU, the library mosaic)
    c["gelu"] = meta.get("gelu", "tanh")
    c["mosaic_variant"] = meta.get("mosaic_variant", "library")
    if c["pos"] not in ("learned", "none", "rope", "alibi") or c["gelu"] not in ("erf", "tanh") or \
            c["mosaic_variant"] not in ("library", "nano"):
        raise ValueError(f"{path}: unknown pos {c['pos']!r} / gelu {c['gelu']!r} / mosaic_variant {c['mosaic_variant']!r}")
    if arch == "mosaic" and c["pmem"] <= 0:
        c["pmem"] = int(round(3.5 * c["d"]))
    return c


def load(path, vocab_dir=None, dtype=torch.float32, tokenizer=True):
    """The checkpoint's model (eval mode) with its tokenizer as .tokenizer: the one the checkpoint
    carries (hash-checked), or for an older checkpoint the one it names (None when it names none,
    or with tokenizer=False). AdamW moments (optim.*) are left out; the run's resolved configuration
    is .run_config (YAML text, None for an older checkpoint)."""
    tensors, meta = read_safetensors(path)
    config = _config(path, meta)
    model = MemlabLM(config, {k: v for k, v in tensors.items() if not k.startswith("optim.")}, dtype)
    model.eval()
    model.run_config = meta.get("config")
    if tokenizer and "tokenizer_json" in meta:
        model.tokenizer = _carried_tokenizer(path, meta)
    elif tokenizer and "tokenizer" in meta:
        model.tokenizer = _open_tokenizer(path, meta["tokenizer"], vocab_dir)
    if model.tokenizer is not None:
        if len(model.tokenizer) != config["vocab"]:
            raise ValueError(f"{path}: the tokenizer has {len(model.tokenizer)} tokens, the model {config['vocab']}")
    return model


def _main(argv):
    usage = "usage: memlab_torch.py score CKPT TEXTFILE [--vocab-dir DIR] [--float64]"
    if len(argv) < 3 or argv[0] != "score":
        sys.exit(usage)
    rest, vocab_dir, dtype = argv[3:], None, torch.float32
    while rest:
        if rest[0] == "--vocab-dir" and len(rest) > 1:
            vocab_dir, rest = rest[1], rest[2:]
        elif rest[0] == "--float64":
            dtype, rest = torch.float64, rest[1:]
        else:
            sys.exit(usage)
    model = load(argv[1], vocab_dir=vocab_dir, dtype=dtype)
    if model.tokenizer is None:
        sys.exit(f"memlab_torch.py: {argv[1]}: the checkpoint records no tokenizer")
    with open(argv[2], "rb") as f:
        ids = model.tokenizer.encode(f.read())
    out = ["position,token,loss"]
    for t, loss in enumerate(model.score(ids)):
        out.append(f"{t + 1},{ids[t + 1]},{loss:.9g}")
    print("\n".join(out))


if __name__ == "__main__":
    _main(sys.argv[1:])
