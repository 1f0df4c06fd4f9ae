/* APEX Partenaires — password strength gauge and live password rules.
 *
 * Enhances every <input type="password" data-gauge="ID">: as the person
 * types, the element with id ID shows
 *   - the strength of the password, 0 (très faible) to 4 (très fort), the
 *     same score as directory.PasswordStrength in Go (a Go test runs this
 *     file in Chromium and compares the two on a table of passwords);
 *   - which of the guide's rules the password meets.
 *
 * Markup it reads inside the element with id ID (all optional):
 *   [data-gauge-meter]   shown once the script runs (hidden without script);
 *   [data-gauge-text]    receives « Robustesse du mot de passe : faible »;
 *   [data-rule="length|case|digits|special"]
 *                        a DSFR message (fr-message fr-message--info) that
 *                        turns fr-message--valid or fr-message--error;
 *     [data-rule-state]  inside it, receives « respectée » or « non
 *                        respectée » for screen readers (fr-sr-only).
 * The element itself gets data-score="0".."4", or "" while the field is
 * empty; apex.css colours the gauge from it. Rules the browser cannot check
 * (the history of the last 10 passwords) have no data-rule and stay as
 * they are.
 *
 * No inline script or style is needed: the page loads this file with
 * <script src="/static/js/password-gauge.js" defer></script>.
 */
(function () {
  'use strict';

  var MIN_LENGTH = 12;
  var MAX_LENGTH = 20;

  // Unicode classes as Go's unicode package has them.
  var UPPER = /^\p{Lu}$/u; // unicode.IsUpper
  var LOWER = /^\p{Ll}$/u; // unicode.IsLower
  var LETTER = /^\p{L}$/u; // unicode.IsLetter
  var REFUSED = /^[\p{White_Space}\p{Cc}\p{Cf}]$/u; // IsSpace, IsControl, Cf

  function isDigit(c) { return c >= '0' && c <= '9'; }

  // countPassword (directory/password.go).
  function countPassword(chars) {
    var c = { length: 0, upper: 0, lower: 0, digits: 0, special: 0, refused: 0 };
    chars.forEach(function (ch) {
      c.length++;
      if (UPPER.test(ch)) c.upper++;
      else if (LOWER.test(ch)) c.lower++;
      else if (LETTER.test(ch)) { /* a letter without case: length only */ }
      else if (isDigit(ch)) c.digits++;
      else if (REFUSED.test(ch)) c.refused++;
      else c.special++;
    });
    return c;
  }

  // rulesMet says which of the guide's rules the counts meet.
  function rulesMet(c) {
    return {
      length: c.length >= MIN_LENGTH && c.length <= MAX_LENGTH,
      'case': c.upper > 0 && c.lower > 0,
      digits: c.digits >= 2,
      special: c.special > 0
    };
  }

  // CheckPassword: every rule met and no refused character.
  function accepted(c) {
    var r = rulesMet(c);
    return r.length && r['case'] && r.digits && r.special && c.refused === 0;
  }

  var WORDS = ['azerty', 'qwerty', 'motdepasse', 'password', 'dgfip', 'impots', 'apex'];
  var LEET = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '@': 'a', '$': 's', '5': 's', '7': 't' };

  // toLower is Go's unicode.ToLower, a simple (one code point) mapping;
  // JavaScript's full mapping may give more (İ gives i and a combining dot).
  function toLower(ch) {
    var l = Array.from(ch.toLowerCase());
    return l.length === 1 ? l[0] : ch === '\u0130' ? 'i' : ch;
  }

  function isAlnum(ch) { return (ch >= 'a' && ch <= 'z') || isDigit(ch); }

  // passwordBits (directory/password.go): the characters times the bits
  // per character of the classes present; a repeated character, a
  // sequence or a predictable word counts for a quarter.
  function passwordBits(chars) {
    if (chars.length === 0) return 0;
    var hasUpper = false, hasLower = false, hasDigit = false, hasOther = false;
    var norm = chars.map(function (ch) {
      if (UPPER.test(ch)) hasUpper = true;
      else if (LETTER.test(ch)) hasLower = true;
      else if (isDigit(ch)) hasDigit = true;
      else hasOther = true;
      return toLower(ch);
    });
    var pool = (hasUpper ? 26 : 0) + (hasLower ? 26 : 0) + (hasDigit ? 10 : 0) + (hasOther ? 33 : 0);
    var cp = norm.map(function (ch) { return ch.codePointAt(0); });

    var weak = norm.map(function () { return false; });
    for (var i = 1; i < norm.length; i++) {
      if (cp[i] === cp[i - 1]) weak[i] = true;
      if (i >= 2 && isAlnum(norm[i]) && isAlnum(norm[i - 1]) && isAlnum(norm[i - 2])) {
        var step = cp[i] - cp[i - 1];
        if ((step === 1 || step === -1) && cp[i - 1] - cp[i - 2] === step) {
          weak[i - 1] = true;
          weak[i] = true;
        }
      }
    }
    var leet = norm.map(function (ch) { return Object.prototype.hasOwnProperty.call(LEET, ch) ? LEET[ch] : ch; });
    WORDS.forEach(function (word) {
      for (var i = 0; i + word.length <= leet.length; i++) {
        var found = true;
        for (var j = 0; j < word.length; j++) {
          if (leet[i + j] !== word[j]) { found = false; break; }
        }
        if (found) {
          for (var k = i; k < i + word.length; k++) weak[k] = true;
        }
      }
    });

    var effective = 0;
    weak.forEach(function (w) { effective += w ? 0.25 : 1; });
    return effective * Math.log2(pool);
  }

  // strength is directory.PasswordStrength: 0 to 4.
  function strength(password) {
    var chars = Array.from(password);
    var bits = passwordBits(chars);
    if (!accepted(countPassword(chars))) return bits < 40 ? 0 : 1;
    if (bits < 60) return 2;
    if (bits < 95) return 3;
    return 4;
  }

  var LABELS = ['très faible', 'faible', 'moyenne', 'forte', 'très forte'];

  function update(input, gauge) {
    var value = input.value;
    var chars = Array.from(value);
    var score = value === '' ? '' : String(strength(value));
    gauge.setAttribute('data-score', score);
    var text = gauge.querySelector('[data-gauge-text]');
    if (text) {
      text.textContent = value === ''
        ? 'Robustesse du mot de passe : saisissez un mot de passe'
        : 'Robustesse du mot de passe : ' + LABELS[Number(score)];
    }
    var met = rulesMet(countPassword(chars));
    Array.prototype.forEach.call(gauge.querySelectorAll('[data-rule]'), function (rule) {
      var name = rule.getAttribute('data-rule');
      if (!Object.prototype.hasOwnProperty.call(met, name)) return;
      var state = rule.querySelector('[data-rule-state]');
      rule.classList.remove('fr-message--info', 'fr-message--valid', 'fr-message--error');
      if (value === '') {
        rule.classList.add('fr-message--info');
        if (state) state.textContent = '';
      } else {
        rule.classList.add(met[name] ? 'fr-message--valid' : 'fr-message--error');
        if (state) state.textContent = met[name] ? ' : respectée' : ' : non respectée';
      }
    });
  }

  function enhance(input) {
    var gauge = document.getElementById(input.getAttribute('data-gauge'));
    if (!gauge) return;
    var meter = gauge.querySelector('[data-gauge-meter]');
    if (meter) meter.hidden = false;
    input.addEventListener('input', function () { update(input, gauge); });
    update(input, gauge);
  }

  // For the test that compares this score with Go's, and for other scripts.
  window.apexPasswordStrength = strength;

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll('input[type="password"][data-gauge]'), enhance);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
