// The Node recipes of docs/containers.md, run by recipes_test.go: for each
// person, whether ldapts and ldapauth-fork let them in. Input: the JSON of
// APEX_RECIPE ({url, base, bindDN, bindPassword, profile, people:
// [{identifier, password}]}). Output: one JSON object.
import { Client } from 'ldapts';
import LdapAuth from 'ldapauth-fork';

const cfg = JSON.parse(process.env.APEX_RECIPE);
const sameDN = (a, b) => a.toLowerCase() === b.toLowerCase();

// ldapts: the application's account finds the person by uid and reads
// memberOf; the password is checked by a bind on a connection of its own.
async function withLdapts(identifier, password) {
  const app = new Client({ url: cfg.url, timeout: 10000, connectTimeout: 10000 });
  try {
    await app.bind(cfg.bindDN, cfg.bindPassword);
    const { searchEntries } = await app.search(cfg.base, {
      scope: 'sub',
      filter: `(uid=${escapeFilter(identifier)})`,
      attributes: ['memberOf'],
    });
    if (searchEntries.length !== 1) return false;
    const person = searchEntries[0];
    const user = new Client({ url: cfg.url, timeout: 10000, connectTimeout: 10000 });
    try {
      await user.bind(person.dn, password);
    } catch {
      return false;
    } finally {
      await user.unbind();
    }
    const groups = [].concat(person.memberOf ?? []);
    return groups.some((g) => sameDN(g, cfg.profile));
  } finally {
    await app.unbind();
  }
}

// RFC 4515 escaping of a value in a filter.
function escapeFilter(s) {
  return s.replace(/[\\*()\0]/g, (c) => '\\' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

// ldapauth-fork: its group search (member={{dn}}) must be given the
// person's entryDN: with its default, the DN as ldapjs writes it, escaped
// once more, finds no group for a DN that is not ASCII.
function withLdapauth(identifier, password, groupDnProperty) {
  return new Promise((resolve) => {
    const opts = {
      url: cfg.url,
      bindDN: cfg.bindDN,
      bindCredentials: cfg.bindPassword,
      searchBase: cfg.base,
      searchFilter: '(uid={{username}})',
      searchAttributes: ['uid', 'entryDN'],
      groupSearchBase: cfg.base,
      groupSearchFilter: '(member={{dn}})',
      groupSearchAttributes: ['cn'],
      cache: false,
      timeout: 10000,
      connectTimeout: 10000,
    };
    if (groupDnProperty) opts.groupDnProperty = groupDnProperty;
    const auth = new LdapAuth(opts);
    auth.on('error', () => {});
    auth.authenticate(identifier, password, (err, user) => {
      const groups = err || !user ? [] : user._groups.map((g) => g.dn);
      auth.close(() => resolve(!err && groups.some((g) => sameDN(g, cfg.profile))));
    });
  });
}

const out = {};
for (const p of cfg.people) {
  out[`${p.identifier} ${p.password}`] = {
    ldapts: await withLdapts(p.identifier, p.password),
    ldapauth: await withLdapauth(p.identifier, p.password, 'entryDN'),
    ldapauthDefault: await withLdapauth(p.identifier, p.password, ''),
  };
}
console.log(JSON.stringify(out));
