// ISO/IEC 7064 MOD 37,36: hybrid system, alphabet 0-9A-Z (values 0..35),
// M = 36, one check character from the same alphabet.
//   P0 = M
//   S_j = (P_{j-1} mod (M+1)) + a_j
//   P_j = ((S_j mod M) || M) * 2          (|| M: a zero remainder becomes M)
// The check c makes S_{n+1} = (P_n mod (M+1)) + c ≡ 1 (mod M).
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const M = 36;

export function mod37_36CheckChar(input: string): string {
  let p = M;
  for (const ch of input) {
    const value = ALPHABET.indexOf(ch);
    if (value === -1)
      throw new RangeError(
        `'${ch}' is not in the ISO 7064 MOD 37,36 alphabet 0-9A-Z`,
      );
    p = ((p % (M + 1)) + value) % M || M;
    p *= 2;
  }
  // p mod (M+1) is in 1..M (M+1 = 37 is prime and p ≠ 0), so c is in 0..M-1.
  return ALPHABET.charAt((M + 1 - (p % (M + 1))) % M);
}

export function isValidMod37_36(withCheck: string): boolean {
  if (withCheck.length < 1 || !/^[0-9A-Z]+$/.test(withCheck)) return false;
  return mod37_36CheckChar(withCheck.slice(0, -1)) === withCheck.slice(-1);
}
