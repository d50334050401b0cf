// The image of a service as stack deploy sends it: the reference checked as the docker client library
// parses it (docker/distribution's reference grammar), then written in its familiar form.
/** imageReferenceProblem explains why a string is not an image reference; undefined when it is one. */
export function imageReferenceProblem(image: string): string | undefined {
  if (image === '') return 'no image specified';
  if (/^[a-f0-9]{64}$/.test(image)) return undefined;
  const component = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
  const domain = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?';
  const re = new RegExp(`^(?:${domain}/)?${component}(?:/${component})*(?::[\\w][\\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`);
  if (!re.test(image)) {
    if (/[A-Z]/.test(image.split('@')[0]!.split(':')[0]!.split('/').slice(-1)[0]!)) return `"${image}": repository name must be lowercase`;
    return `"${image}" is not a valid image reference`;
  }
  return undefined;
}

/**
 * familiarImage writes an image reference as the docker client library sends it: the familiar form
 * (docker.io/library/ dropped) with a `latest` tag when it has neither tag nor digest.
 */
export function familiarImage(image: string): string {
  if (imageReferenceProblem(image) !== undefined || /^[a-f0-9]{64}$/.test(image)) return image;
  const at = image.indexOf('@');
  const digest = at < 0 ? '' : image.slice(at);
  let name = at < 0 ? image : image.slice(0, at);
  let tag = '';
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) [name, tag] = [name.slice(0, colon), name.slice(colon)];
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  if (first === 'docker.io' || first === 'index.docker.io') name = name.slice(slash + 1);
  else if (first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) return `${name}${tag || (digest ? '' : ':latest')}${digest}`;
  if (name.startsWith('library/') && name.split('/').length === 2) name = name.slice('library/'.length);
  return `${name}${tag || (digest ? '' : ':latest')}${digest}`;
}
