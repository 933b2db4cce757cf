import type { Command } from 'commander';
import { GroveError } from '../../errors.js';
import { verb } from '../invocation.js';
import { openRepo, withRepo } from '../repo-option.js';

/** `remote add-cookie`, `delete-cookie`, `list-cookies`: the remote's cookie jar (see net/cookies.ts). */
export function registerCookies(remote: Command): void {
  verb(withRepo(remote.command('add-cookie')), { params: 'NAME DOMAIN PATH COOKIE_NAME VALUE', missing: Array(5).fill('NAME, DOMAIN, PATH, COOKIE_NAME and VALUE must be specified') })
    .description('add a cookie that pulls from the remote send')
    .argument('<name>').argument('<domain>').argument('<path>').argument('<cookie_name>').argument('<value>')
    .action(async (name: string, domain: string, path: string, cookieName: string, value: string, opts: { repo?: string }) => {
      const [{ addCookie }, repo] = await Promise.all([import('../../net/cookies.js'), openRepo(opts)]);
      addCookie(repo.path, name, { domain, path, name: cookieName, value });
    });

  verb(withRepo(remote.command('delete-cookie')), { params: 'NAME DOMAIN PATH COOKIE_NAME', missing: Array(4).fill('NAME, DOMAIN, PATH and COOKIE_NAME must be specified') })
    .description("remove a cookie from the remote's jar")
    .argument('<name>').argument('<domain>').argument('<path>').argument('<cookie_name>')
    .action(async (name: string, domain: string, path: string, cookieName: string, opts: { repo?: string }) => {
      const [{ deleteCookie }, repo] = await Promise.all([import('../../net/cookies.js'), openRepo(opts)]);
      // As ostree, the jar is rewritten (made, if need be) before a missing cookie is reported.
      if (!deleteCookie(repo.path, name, { domain, path, name: cookieName })) throw new GroveError('GROVE_NOT_FOUND', 'Cookie not found in jar');
    });

  verb(withRepo(remote.command('list-cookies')), { params: 'NAME' })
    .description("show the cookies in the remote's jar")
    .argument('<name>')
    .action(async (name: string, opts: { repo?: string }) => {
      const [{ cookieJarName, listCookiesText }] = await Promise.all([import('../../net/cookies.js'), openRepo(opts)]);
      // ostree 2022.7 opens the jar's name relative to the current directory, not the repository.
      process.stdout.write(listCookiesText(cookieJarName(name)));
    });
}
